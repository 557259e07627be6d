from django.db import migrations


def prompts_create(apps, schema_editor):
    from judges.prompts import DEFAULT_PROMPTS

    JudgePrompt = apps.get_model("judges", "JudgePrompt")
    for language, (system_text, template) in DEFAULT_PROMPTS.items():
        if not JudgePrompt.objects.filter(language=language).exists():
            JudgePrompt.objects.create(
                language=language, version=1, system_text=system_text, template=template, note="default"
            )


class Migration(migrations.Migration):
    dependencies = [("judges", "0001_initial")]

    operations = [migrations.RunPython(prompts_create, migrations.RunPython.noop)]
