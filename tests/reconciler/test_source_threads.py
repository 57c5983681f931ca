"""One GitSource shared by the worker's converge loops: fetches from several threads at once."""

from __future__ import annotations

import threading

from reconciler.source import GitSource

JOIN_SECONDS = 60.0


def test_loops_fetching_at_once_share_one_mirror(git_repo, tmp_path):
    """The first fetches clone the mirror, later ones fetch into it: at once, neither may trip over the other."""
    source = GitSource(str(git_repo.path), "main", tmp_path / "work")
    loops = 4
    start = threading.Barrier(loops)
    commits: list[str | None] = []
    failures: list[BaseException] = []

    def loop() -> None:
        try:
            start.wait(timeout=JOIN_SECONDS)
            for _ in range(2):
                source.refresh()  # what every converge does first
                checkout = source.fetch(None)
                commits.append(checkout.commit)
                source.cleanup(checkout)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(loops)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_SECONDS)

    assert not [t for t in threads if t.is_alive()]
    assert failures == []
    assert commits == [git_repo.head] * (2 * loops)
