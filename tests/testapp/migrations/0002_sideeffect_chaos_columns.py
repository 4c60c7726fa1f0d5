from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("testapp", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="sideeffect",
            name="epoch",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="sideeffect",
            name="started",
            field=models.FloatField(null=True),
        ),
        migrations.AddField(
            model_name="sideeffect",
            name="finished",
            field=models.FloatField(null=True),
        ),
    ]
