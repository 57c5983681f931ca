"""``ecs-gitops verify``: prove a deployed environment is what git says, and that its paths work.

:mod:`~reconciler.verify.checks` holds the checks (network, services, traffic, isolation, logs,
secrets, names) over injectable boto3 clients; :mod:`~reconciler.verify.run` runs them into a
:class:`~reconciler.verify.model.VerifyReport`; :mod:`~reconciler.verify.command` is the command.
"""
