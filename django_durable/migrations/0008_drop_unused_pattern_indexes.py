from django.db import migrations

TABLE = "django_durable_workflowexecution"
# Columns only ever looked up by equality. Django gives each indexed text column a second,
# `varchar_pattern_ops` index on PostgreSQL, for LIKE 'prefix%' queries the engine never
# makes on these (it does on the primary key, whose pattern index stays).
COLUMNS = ("forked_from", "root_error_type", "parent", "waiting_for")


def _pattern_indexes(schema_editor) -> dict[str, str]:
    """The pattern-ops indexes of COLUMNS that exist: name -> column."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.relname, a.attname FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0] "
            "JOIN pg_opclass o ON o.oid = x.indclass[0] "
            "WHERE t.relname = %s AND o.opcname = 'varchar_pattern_ops' AND x.indnatts = 1 "
            "AND t.relnamespace = ANY (current_schemas(false)::regnamespace[])",
            [TABLE],
        )
        return {name: column for name, column in cursor.fetchall() if column in COLUMNS}


def drop_pattern_indexes(apps, schema_editor):
    """Drop the LIKE indexes of four columns looked up only by equality (PostgreSQL).

    Every insert of an execution, and every update that changes its status (a claim, a
    finish), writes an entry in each of the table's indexes: four fewer of 19 is a fifth
    less index work on the busiest table. Measured on W2 (1,000 three-step workflows, one
    worker of four threads): about 2% more workflows per second (733 -> 746, four runs each).
    """
    if schema_editor.connection.vendor != "postgresql":
        return  # only PostgreSQL has them
    quote = schema_editor.connection.ops.quote_name
    for name in sorted(_pattern_indexes(schema_editor)):
        schema_editor.execute(f"DROP INDEX IF EXISTS {quote(name)}")


def create_pattern_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.connection.ops.quote_name
    existing = set(_pattern_indexes(schema_editor).values())
    for column in COLUMNS:
        if column not in existing:
            name = schema_editor._create_index_name(TABLE, [column], suffix="_like")
            schema_editor.execute(
                f"CREATE INDEX {quote(name)} ON {quote(TABLE)} ({quote(column)} varchar_pattern_ops)"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("django_durable", "0007_covering_workflow_index"),
    ]

    operations = [
        migrations.RunPython(drop_pattern_indexes, create_pattern_indexes, elidable=False),
    ]
