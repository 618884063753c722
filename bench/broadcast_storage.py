"""Database bytes a broadcast costs when every recipient is offline (mailbox amplification).

    python bench/broadcast_storage.py [--agents 300] [--broadcasts 20] [--payload-bytes 100,4096]

In this process, against a fresh SQLite database in a temporary data directory: creates
`--agents` registered agents, none connected, then for each payload size sends
`--broadcasts` broadcasts from one of them and reports the growth of the database file
(`page_count * page_size` after a WAL checkpoint) per broadcast, with the bytes of the
payload itself for scale. Sizes run one after the other in the same database; the
mailbox cap is raised so nothing is trimmed. Not a test: it prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def database_bytes(connection) -> int:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.execute("PRAGMA page_count")
        pages = cursor.fetchone()[0]
        cursor.execute("PRAGMA page_size")
        return pages * cursor.fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=300)
    parser.add_argument("--broadcasts", type=int, default=20)
    parser.add_argument("--payload-bytes", default="100,4096")
    args = parser.parse_args()

    os.environ["AGENTCOM_DATA_DIR"] = tempfile.mkdtemp(prefix="agentcom-storage-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentcom_site.settings")
    os.environ.setdefault("AGENTCOM_MAILBOX_MAX_ENTRIES", str(args.broadcasts * 10))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from agents.models import Agent
    from messaging import routing
    from messaging.models import MailboxEntry

    call_command("migrate", verbosity=0)
    Agent.objects.bulk_create(Agent(agent_id=f"agent-{i:04d}") for i in range(args.agents))
    figures = []
    for size in (int(part) for part in args.payload_bytes.split(",")):
        text = "x" * max(0, size - len('{"text": ""}'))
        before = database_bytes(connection)
        for _ in range(args.broadcasts):
            routing.send_message(sender="agent-0000", to=None, payload={"text": text})
        grown = database_bytes(connection) - before
        figures.append(
            {
                "payload_bytes": len(json.dumps({"text": text})),
                "recipients": args.agents - 1,
                "broadcasts": args.broadcasts,
                "db_bytes_per_broadcast": grown // args.broadcasts,
                "mailbox_entries": MailboxEntry.objects.count(),
            }
        )
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
