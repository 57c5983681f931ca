"""Run the pack over an offline render (``program.render.RenderedStack``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from policies.model import PolicyContext, PolicyReport, ResourceView
from policies.pack import evaluate

if TYPE_CHECKING:
    from desired_state.schema import DesiredState
    from program.render import RenderedStack


def views_of(rendered: RenderedStack) -> list[ResourceView]:
    return [
        ResourceView(
            type=r.type,
            name=r.name,
            props=r.inputs,
            parent=r.parent,
            protect=r.protect,
            retain_on_delete=r.retain_on_delete,
            property_dependencies={k: tuple(v) for k, v in r.property_dependencies.items()},
        )
        for r in rendered.resources
        if r.custom
    ]


def check_rendered(rendered: RenderedStack, desired: DesiredState) -> PolicyReport:
    context = PolicyContext(environment_suffix=desired.environment_suffix, production=desired.environment_class == "production")
    return evaluate(views_of(rendered), context)
