"""Database-level guards of the ledger, so that no code path (raw SQL, a shell, a bug) can break
the books: an entry's postings sum to zero (checked at commit, like django-hordak's check_leg),
every entry has postings, and entries and postings are never updated or deleted."""

from django.db import migrations

POSTGRES = [
    """
    CREATE FUNCTION wallet_check_entry_balanced() RETURNS trigger AS $$
    DECLARE
        total numeric;
        legs integer;
    BEGIN
        SELECT COALESCE(SUM(amount), 0), COUNT(*) INTO total, legs
          FROM wallet_posting WHERE entry_id = NEW.{column};
        IF total <> 0 OR legs < 2 THEN
            RAISE EXCEPTION 'ledger entry % is unbalanced: postings sum to % over % legs',
                NEW.{column}, total, legs USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql;
    """,
    """
    CREATE FUNCTION wallet_refuse_change() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION '% rows are never updated or deleted; post a reversing entry', TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END;
    $$ LANGUAGE plpgsql;
    """,
    """
    CREATE CONSTRAINT TRIGGER wallet_posting_balanced AFTER INSERT ON wallet_posting
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wallet_check_posting_entry();
    """,
    """
    CREATE CONSTRAINT TRIGGER wallet_entry_balanced AFTER INSERT ON wallet_entry
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wallet_check_entry_row();
    """,
    "CREATE TRIGGER wallet_posting_immutable BEFORE UPDATE OR DELETE ON wallet_posting"
    " FOR EACH ROW EXECUTE FUNCTION wallet_refuse_change();",
    "CREATE TRIGGER wallet_entry_immutable BEFORE UPDATE OR DELETE ON wallet_entry"
    " FOR EACH ROW EXECUTE FUNCTION wallet_refuse_change();",
]

SQLITE = [
    "CREATE TRIGGER wallet_posting_no_update BEFORE UPDATE ON wallet_posting"
    " BEGIN SELECT RAISE(ABORT, 'wallet_posting rows are never updated'); END;",
    "CREATE TRIGGER wallet_posting_no_delete BEFORE DELETE ON wallet_posting"
    " BEGIN SELECT RAISE(ABORT, 'wallet_posting rows are never deleted'); END;",
    "CREATE TRIGGER wallet_entry_no_update BEFORE UPDATE ON wallet_entry"
    " BEGIN SELECT RAISE(ABORT, 'wallet_entry rows are never updated'); END;",
    "CREATE TRIGGER wallet_entry_no_delete BEFORE DELETE ON wallet_entry"
    " BEGIN SELECT RAISE(ABORT, 'wallet_entry rows are never deleted'); END;",
]


def _postgres_statements():
    check = POSTGRES[0]
    return [
        check.replace("wallet_check_entry_balanced", "wallet_check_posting_entry").format(column="entry_id"),
        check.replace("wallet_check_entry_balanced", "wallet_check_entry_row").format(column="id"),
        *POSTGRES[1:],
    ]


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = _postgres_statements() if vendor == "postgresql" else SQLITE if vendor == "sqlite" else []
    for sql in statements:
        schema_editor.execute(sql, params=None)


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for sql in (
            "DROP TRIGGER wallet_posting_balanced ON wallet_posting",
            "DROP TRIGGER wallet_entry_balanced ON wallet_entry",
            "DROP TRIGGER wallet_posting_immutable ON wallet_posting",
            "DROP TRIGGER wallet_entry_immutable ON wallet_entry",
            "DROP FUNCTION wallet_check_posting_entry()",
            "DROP FUNCTION wallet_check_entry_row()",
            "DROP FUNCTION wallet_refuse_change()",
        ):
            schema_editor.execute(sql, params=None)
    elif vendor == "sqlite":
        for name in ("posting_no_update", "posting_no_delete", "entry_no_update", "entry_no_delete"):
            schema_editor.execute(f"DROP TRIGGER wallet_{name}")


class Migration(migrations.Migration):
    dependencies = [("wallet", "0001_initial")]
    operations = [migrations.RunPython(install, uninstall)]
