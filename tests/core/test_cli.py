"""A family's entry point dispatches to its subcommands and names the known ones."""

from odebench.core.cli import dispatch


def test_dispatch_runs_the_named_command_on_the_remaining_arguments():
    seen = []
    commands = {"train": lambda argv: seen.append(argv) or 0, "data": lambda argv: 5}
    assert dispatch("prog", commands, ["train", "--out", "x"]) == 0
    assert seen == [["--out", "x"]]
    assert dispatch("prog", commands, ["data"]) == 5


def test_an_unknown_or_missing_command_fails_naming_the_known_ones(capsys):
    commands = {"train": lambda argv: 0, "trace": lambda argv: 0}
    assert dispatch("python -m odebench.cnf", commands, ["collect"]) == 2
    err = capsys.readouterr().err
    assert "usage: python -m odebench.cnf {train,trace} ..." in err
    assert "error: unknown command 'collect'" in err
    assert dispatch("python -m odebench.cnf", commands, []) == 2
    assert "a command is required" in capsys.readouterr().err
