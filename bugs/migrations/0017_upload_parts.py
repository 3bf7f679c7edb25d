"""An uploaded report is kept as slices of at most 1 MiB (RunUploadPart) instead of one value, so that
neither the request nor the worker holds a whole report in memory. Stored uploads are sliced as they are."""

import django.db.models.deletion
from django.db import migrations, models

PART_BYTES = 1 << 20
MARKS = {"junit": b"<testcase", "report-log": b'"when": "call"'}


def slice_uploads(apps, schema_editor):
    RunUpload = apps.get_model("bugs", "RunUpload")
    RunUploadPart = apps.get_model("bugs", "RunUploadPart")
    # The ids first: the loop writes to the table it would otherwise be reading.
    for run_id in list(RunUpload.objects.values_list("pk", flat=True)):
        upload = RunUpload.objects.get(pk=run_id)
        content = bytes(upload.content)
        count = 0
        for index, start in enumerate(range(0, len(content), PART_BYTES)):
            RunUploadPart.objects.create(upload=upload, index=index, data=content[start : start + PART_BYTES])
            count += 1
        upload.parts = count
        upload.estimate = content.count(MARKS.get(upload.kind, b"<testcase"))
        upload.save(update_fields=["parts", "estimate"])


def join_parts(apps, schema_editor):
    RunUpload = apps.get_model("bugs", "RunUpload")
    RunUploadPart = apps.get_model("bugs", "RunUploadPart")
    for run_id in list(RunUpload.objects.values_list("pk", flat=True)):
        upload = RunUpload.objects.get(pk=run_id)
        parts = RunUploadPart.objects.filter(upload=upload).order_by("index").values_list("data", flat=True)
        upload.content = b"".join(bytes(part) for part in parts)
        upload.save(update_fields=["content"])


class Migration(migrations.Migration):
    dependencies = [
        ("bugs", "0016_merge_suite_environments"),
    ]

    operations = [
        migrations.AddField(
            model_name="runupload",
            name="estimate",
            field=models.PositiveIntegerField(default=0, help_text="How many results the report seems to hold, for the progress bar."),
        ),
        migrations.AddField(
            model_name="runupload",
            name="parts",
            field=models.PositiveIntegerField(default=0, help_text="How many RunUploadPart rows hold the bytes."),
        ),
        migrations.CreateModel(
            name="RunUploadPart",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("index", models.PositiveIntegerField()),
                ("data", models.BinaryField()),
                ("upload", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="bugs.runupload")),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("upload", "index"), name="bugs_uploadpart_upload_index_uniq")],
            },
        ),
        migrations.RunPython(slice_uploads, join_parts),
        # With a default, the column can be added back when the migration is reversed.
        migrations.AlterField(model_name="runupload", name="content", field=models.BinaryField(default=b"")),
        migrations.RemoveField(
            model_name="runupload",
            name="content",
        ),
    ]
