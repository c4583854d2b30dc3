from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("providers", "0008_clientkey_rename_duplicate_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="clientkey",
            name="expires_at",
            field=models.DateTimeField(
                blank=True, help_text="Empty: never. A rotated key expires after its grace period.", null=True
            ),
        ),
        migrations.AlterField(
            model_name="clientkey",
            name="name",
            field=models.CharField(max_length=100, unique=True),
        ),
    ]
