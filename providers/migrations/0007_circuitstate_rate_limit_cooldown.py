from django.db import migrations, models


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
    ]
