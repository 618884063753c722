"""Mailbox entries refer to a letter stored once instead of each holding a copy."""

import json

import django.db.models.deletion
from django.db import migrations, models

import agentcom_site.core.clock

COPIED = ("message_id", "sender", "recipient", "message_type", "reply_to", "sent_at")


def entries_to_letters(apps, schema_editor):
    """One letter per distinct copy (same message, same payload); entries point at it."""
    Entry = apps.get_model("messaging", "MailboxEntry")
    Letter = apps.get_model("messaging", "MailboxLetter")
    letters: dict[tuple, int] = {}
    for entry in Entry.objects.order_by("seq").iterator():
        text = json.dumps(entry.payload, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
        key = (entry.message_id, text)
        if key not in letters:
            letters[key] = Letter.objects.create(
                payload=entry.payload,
                stored_at=entry.stored_at,
                size=len(text.encode()),
                **{name: getattr(entry, name) for name in COPIED},
            ).pk
        Entry.objects.filter(pk=entry.pk).update(letter_id=letters[key])


class Migration(migrations.Migration):
    dependencies = [("messaging", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="MailboxLetter",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("message_id", models.CharField(max_length=16)),
                ("sender", models.CharField(max_length=160)),
                ("recipient", models.CharField(blank=True, default="", max_length=128)),
                ("message_type", models.CharField(max_length=64)),
                ("payload", models.JSONField(blank=True, default=dict)),
                ("reply_to", models.CharField(blank=True, default="", max_length=128)),
                ("sent_at", models.DateTimeField()),
                ("stored_at", models.DateTimeField(db_index=True, default=agentcom_site.core.clock.now)),
                ("size", models.PositiveIntegerField(default=0)),
            ],
        ),
        migrations.AddField(
            model_name="mailboxentry",
            name="letter",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="entries",
                to="messaging.mailboxletter",
            ),
        ),
        migrations.RunPython(entries_to_letters, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="mailboxentry",
            name="letter",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="entries",
                to="messaging.mailboxletter",
            ),
        ),
        migrations.RemoveField(model_name="mailboxentry", name="message_id"),
        migrations.RemoveField(model_name="mailboxentry", name="sender"),
        migrations.RemoveField(model_name="mailboxentry", name="recipient"),
        migrations.RemoveField(model_name="mailboxentry", name="message_type"),
        migrations.RemoveField(model_name="mailboxentry", name="payload"),
        migrations.RemoveField(model_name="mailboxentry", name="reply_to"),
        migrations.RemoveField(model_name="mailboxentry", name="sent_at"),
        migrations.RemoveField(model_name="mailboxentry", name="stored_at"),
    ]
