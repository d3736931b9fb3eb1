"""`vras demo` (`make run`): train + export the demo models if `savedmodels/` has none, then start the app."""

from __future__ import annotations

NAME = "demo"
HELP = "train and export the demo models when savedmodels/ has none, then start the Streamlit demo"


def add_arguments(parser):
    from vras_keras.demo.launcher import DEFAULT_PORT

    parser.add_argument("--savedmodels", default="savedmodels", help="export folder (default savedmodels)")
    parser.add_argument("--runs", default="runs/demo", help="where the demo trainings write (default runs/demo)")
    parser.add_argument("--configs", help="recipe folder (default: the recipes shipped with vras_keras, configs/)")
    parser.add_argument("--tasks", help="comma-separated subset of the demo tasks (default: every family present)")
    parser.add_argument("--retrain", action="store_true", help="train and export even when exports exist")
    parser.add_argument("--quick", action="store_true", help="one tiny epoch per recipe (smoke test, poor models)")
    parser.add_argument("--no-landscape", action="store_true", help="skip the classifier's loss landscape")
    parser.add_argument("--no-app", action="store_true", help="train/export only, do not start Streamlit")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"app port (default {DEFAULT_PORT})")
    parser.add_argument("--address", default="127.0.0.1", help="app address (0.0.0.0 to serve the network)")


def run(args) -> int:
    from vras_keras.demo import launcher, recipes
    from vras_keras.demo.exports import has_exports

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    outcomes = recipes.prepare(args.savedmodels, config_dir=args.configs, runs_dir=args.runs, tasks=tasks,
                               retrain=args.retrain, quick=args.quick, landscape=not args.no_landscape)
    if outcomes and not any(o.status == "exported" for o in outcomes) and not has_exports(args.savedmodels):
        launcher.say("no model could be trained and exported; the app will show how to export one")
    if args.no_app:
        return 1 if any(o.status == "failed" for o in outcomes) else 0
    return launcher.serve(args.savedmodels, port=args.port, address=args.address, landscapes=[args.runs])
