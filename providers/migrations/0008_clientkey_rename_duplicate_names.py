"""Client key names become unique (0009): rename existing duplicates ``name (2)``, ``name (3)``…
keeping the oldest key's name as it is."""

from django.db import migrations

NAME_MAX = 100


def rename_duplicates(apps, schema_editor):
    ClientKey = apps.get_model("providers", "ClientKey")
    taken = set(ClientKey.objects.values_list("name", flat=True))
    seen: set[str] = set()
    for row in ClientKey.objects.order_by("created", "pk").only("pk", "name"):
        if row.name not in seen:
            seen.add(row.name)
            continue
        n = 2
        while True:
            suffix = f" ({n})"
            candidate = row.name[: NAME_MAX - len(suffix)] + suffix
            if candidate not in taken:
                break
            n += 1
        taken.add(candidate)
        seen.add(candidate)
        ClientKey.objects.filter(pk=row.pk).update(name=candidate)


class Migration(migrations.Migration):

    dependencies = [
        ("providers", "0007_circuitstate_rate_limit_cooldown"),
    ]

    operations = [
        migrations.RunPython(rename_duplicates, migrations.RunPython.noop),
    ]
