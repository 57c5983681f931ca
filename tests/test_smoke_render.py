def test_dev_renders_every_component(rendered_dev):
    components = {r.type for r in rendered_dev.resources if not r.custom}
    assert {
        "ecs-gitops:platform:Network",
        "ecs-gitops:platform:Registry",
        "ecs-gitops:platform:Cluster",
        "ecs-gitops:platform:Edge",
        "ecs-gitops:platform:Discovery",
        "ecs-gitops:platform:Secrets",
        "ecs-gitops:platform:SecurityTiers",
        "ecs-gitops:platform:Service",
        "ecs-gitops:platform:ServiceIdentity",
    } <= components
