"""Reading Snakemake's log of one invocation: how long it took and where the time went."""

from datetime import timedelta

import pytest

from odebench.products import invocation

HEADER = """SNAKEMAKE
=========
  Date: 2026-11-26 07:00:00
  Command: /usr/bin/snakemake --cores 2

Job stats:
job              count
-------------  -------
train_mnist          2
train_density        1
report               1
total                4

"""


def started(stamp, rule, jobid):
    return f"[Thu Nov 26 {stamp} 2026]\nlocalrule {rule}:\n    output: x\n    jobid: {jobid}\n"


def finished(stamp, rule, jobid):
    return f"[Thu Nov 26 {stamp} 2026]\nFinished jobid: {jobid} (Rule: {rule})\n"


#: Two MNIST jobs one after the other (10 and 20 min), a CNF job beside the first (5 min),
#: then the report (1 min).
LOG = (
    HEADER
    + started("07:00:00", "train_mnist", 1) + started("07:00:00", "train_density", 2)
    + finished("07:05:00", "train_density", 2) + finished("07:10:00", "train_mnist", 1)
    + started("07:10:00", "train_mnist", 3) + finished("07:30:00", "train_mnist", 3)
    + started("07:30:00", "report", 4) + finished("07:31:00", "report", 4)
)  # fmt: skip


def test_the_elapsed_time_is_snakemakes_own_line_where_the_log_has_it():
    parsed = invocation.parse(LOG + "Elapsed time: 0:31:07.123456\n")
    assert parsed.elapsed_from_log and parsed.elapsed == timedelta(minutes=31, seconds=7.123456)
    assert parsed.command == "/usr/bin/snakemake --cores 2" and parsed.planned == 4


def test_without_it_the_elapsed_time_runs_from_the_first_to_the_last_timestamp():
    parsed = invocation.parse(LOG)
    assert not parsed.elapsed_from_log and parsed.elapsed == timedelta(minutes=31)


def test_each_family_gets_its_jobs_summed_minutes_and_the_minutes_one_of_them_ran():
    rows = invocation.parse(LOG).per_family().set_index("family")
    assert rows.loc["Table 1 (MNIST)", "jobs"] == 2
    assert rows.loc["Table 1 (MNIST)", "job_minutes"] == pytest.approx(30)
    assert rows.loc["CNF", "busy_minutes"] == pytest.approx(5)
    assert list(rows.index)[0] == "Table 1 (MNIST)"  # the longest first


def test_overlapping_jobs_of_one_family_count_once_in_its_running_minutes():
    log = (HEADER + started("07:00:00", "train_density", 1) + started("07:00:00", "train_density", 2)
           + finished("07:04:00", "train_density", 1) + finished("07:06:00", "train_density", 2))  # fmt: skip
    rows = invocation.parse(log).per_family().set_index("family")
    assert rows.loc["CNF", "job_minutes"] == pytest.approx(10)
    assert rows.loc["CNF", "busy_minutes"] == pytest.approx(6)


def test_the_description_says_when_the_invocation_ran_only_part_of_the_dag(tmp_path):
    log = tmp_path / "snakemake.log"
    log.write_text(LOG.replace("total                4", "total                9"))
    text = invocation.describe(log)
    assert "ran 4 of the 9 jobs it planned in **0:31:00**" in text
    assert "| Table 1 (MNIST) | 2 | 30.0 | 30.0 |" in text


def test_a_log_without_finished_jobs_describes_nothing(tmp_path, capsys):
    log = tmp_path / "snakemake.log"
    log.write_text(
        HEADER + "Nothing to be done (all requested files are present and up to date).\n"
    )
    assert invocation.describe(log) is None
    assert invocation.main([str(log)]) == 1
    assert "records no finished job" in capsys.readouterr().err


def test_an_invocation_that_only_rendered_products_made_no_runs():
    assert invocation.runs_made(LOG) == 3  # two MNIST runs and one CNF run; the report is not
    only_report = HEADER + started("07:30:00", "report", 4) + finished("07:31:00", "report", 4)
    assert invocation.runs_made(only_report) == 0
    assert invocation.runs_made(HEADER + "Nothing to be done.\n") == 0
