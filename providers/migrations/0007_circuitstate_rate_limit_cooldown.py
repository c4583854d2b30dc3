from django.db import migrations, models
from django.db.models import F


def split_cooldowns(apps, schema_editor):
    """Rows of the old shape kept a 429 cooldown as an open circuit: move it to limited_until."""
    CircuitState = apps.get_model("providers", "CircuitState")
    CircuitState.objects.filter(state="open", reason="rate_limited").update(
        state="closed", failure_count=0, limited_until=F("open_until"), open_until=0, limit_streak=1
    )


class Migration(migrations.Migration):

    dependencies = [
        ('providers', '0006_provider_preset'),
    ]

    operations = [
        migrations.AddField(
            model_name='circuitstate',
            name='limited_until',
            field=models.FloatField(default=0),
        ),
        migrations.AddField(
            model_name='circuitstate',
            name='limit_streak',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='circuitstate',
            name='limit_explicit',
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(split_cooldowns, migrations.RunPython.noop),
    ]
