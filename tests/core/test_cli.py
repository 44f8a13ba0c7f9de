"""A family's entry point dispatches to its subcommands and names the known ones."""

from odebench.core.cli import command_main, dispatch, run_main


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


def test_a_command_runs_its_action_and_ends_a_listed_error_in_one_line(capsys):
    def add_arguments(parser):
        parser.add_argument("--out", required=True)

    def action(args):
        if args.out == "missing":
            raise FileNotFoundError("no such file: missing")
        return 3 if args.out == "three" else None

    prog = "python -m odebench.example"
    assert command_main(prog, "An example.", add_arguments, action, ["--out", "x"]) == 0
    assert command_main(prog, "An example.", add_arguments, action, ["--out", "three"]) == 3
    assert command_main(prog, "An example.", add_arguments, action, ["--out", "missing"]) == 1
    assert capsys.readouterr().err == f"{prog}: error: no such file: missing\n"


def test_a_run_entry_point_hands_over_the_config_and_fails_in_one_line(tmp_path, capsys):
    seen = []
    argv = ["--run-config", '{"seed": 1}', "--out", str(tmp_path), "--threads", "2"]
    assert run_main("prog run", "A run.", lambda *a: seen.append(a), argv) == 0
    assert seen == [({"seed": 1}, tmp_path, 2)]
    assert run_main("prog run", "A run.", lambda *a: None, ["--run-config", "{", "--out", "x"]) == 1
    assert capsys.readouterr().err.startswith("prog run: error: ")
