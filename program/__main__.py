"""The Pulumi program: read the stack's inputs, build the platform, export its outputs."""

import pulumi

from program.config import read_stack_inputs
from program.platform import build_platform

platform = build_platform(read_stack_inputs())
for key, value in platform.outputs.items():
    pulumi.export(key, value)
