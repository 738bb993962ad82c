"""Migrations written on parallel branches must still form one line from the baseline to one head."""

from alembic.script import ScriptDirectory

from zxt.warehouse import migrate


def test_migrations_form_one_linear_chain():
    script = ScriptDirectory.from_config(migrate._config())
    heads = script.get_heads()
    assert len(heads) == 1, f"several heads {heads}: re-point a down_revision or add a merge revision"
    chain = [rev.revision for rev in script.walk_revisions("base", heads[0])]
    assert chain[-1] == migrate.BASELINE
    # No branch points: every revision has exactly one successor on the way to head.
    assert len(chain) == len(list(script.walk_revisions())), "a revision is off the main line"
