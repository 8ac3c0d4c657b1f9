"""Real races for tests marked `postgres`: actions in threads, one database connection each."""

import threading

from django.db import close_old_connections, connection


def race(*actions):
    """Run the actions in threads released together; returns their results or exceptions, in order."""
    barrier = threading.Barrier(len(actions))
    results = [None] * len(actions)

    def run(index, action):
        try:
            barrier.wait(timeout=10)
            results[index] = action()
        except Exception as exc:  # noqa: BLE001 - the race's loser is the point
            results[index] = exc
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results
