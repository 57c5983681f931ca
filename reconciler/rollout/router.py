"""Traffic routing behind a small interface; the ALB weighted-forward implementation.

``set_weights`` changes the split in one API call; ``verify_weights`` reads the listener back,
because a call that returned is not proof that traffic moved (peer tools have reported success
while traffic still went to the old colour under API throttling).
"""

from __future__ import annotations

from typing import Any, Protocol

from desired_state.traffic import ColourWeights


class TrafficRouter(Protocol):
    def set_weights(self, weights: ColourWeights) -> None: ...

    def verify_weights(self) -> ColourWeights | None: ...


class AlbWeightedRouter:
    """Weighted ``forward`` on a listener's default action, or on one listener rule."""

    def __init__(self, elbv2_client: Any, listener_arn: str, target_groups: dict[str, str], rule_arn: str | None = None):
        self._elbv2 = elbv2_client
        self.listener_arn = listener_arn
        self.rule_arn = rule_arn
        self.target_groups = target_groups  # colour -> ARN
        self._colour_of = {arn: colour for colour, arn in target_groups.items()}

    def _action(self, weights: ColourWeights) -> dict[str, Any]:
        return {
            "Type": "forward",
            "ForwardConfig": {
                "TargetGroups": [{"TargetGroupArn": self.target_groups[c], "Weight": weights.of(c)} for c in ("blue", "green")],
                "TargetGroupStickinessConfig": {"Enabled": False},
            },
        }

    def set_weights(self, weights: ColourWeights) -> None:
        if self.rule_arn:
            self._elbv2.modify_rule(RuleArn=self.rule_arn, Actions=[self._action(weights)])
        else:
            self._elbv2.modify_listener(ListenerArn=self.listener_arn, DefaultActions=[self._action(weights)])

    def verify_weights(self) -> ColourWeights | None:
        """The split the load balancer reports now; None when it is not a blue/green forward."""
        if self.rule_arn:
            actions = self._elbv2.describe_rules(RuleArns=[self.rule_arn])["Rules"][0]["Actions"]
        else:
            actions = self._elbv2.describe_listeners(ListenerArns=[self.listener_arn])["Listeners"][0]["DefaultActions"]
        forward = next((a for a in actions if a.get("Type") == "forward"), None)
        if forward is None:
            return None
        groups = (forward.get("ForwardConfig") or {}).get("TargetGroups") or (
            [{"TargetGroupArn": forward["TargetGroupArn"], "Weight": 1}] if forward.get("TargetGroupArn") else []
        )
        by_colour = {"blue": 0, "green": 0}
        total = sum(int(g.get("Weight", 1)) for g in groups)
        for group in groups:
            colour = self._colour_of.get(group["TargetGroupArn"])
            if colour is None:
                return None
            by_colour[colour] = round(100 * int(group.get("Weight", 1)) / total) if total else 0
        if by_colour["blue"] + by_colour["green"] != 100:
            return None
        return ColourWeights(**by_colour)
