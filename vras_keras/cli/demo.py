"""`vras demo` (`make run`): serve the Streamlit demo at once; the demo models that `savedmodels/` lacks are
trained and exported meanwhile by a background process, one family at a time (each page shows its model's
state and goes live when it lands)."""

from __future__ import annotations

NAME = "demo"
HELP = "start the Streamlit demo; train and export the missing demo models in the background"


def add_arguments(parser):
    from vras_keras.demo.launcher import DEFAULT_PORT

    parser.add_argument("--savedmodels", default="savedmodels", help="export folder (default savedmodels)")
    parser.add_argument("--runs", default="runs/demo", help="where the demo trainings write (default runs/demo)")
    parser.add_argument("--configs", help="recipe folder (default: the recipes shipped with vras_keras, configs/)")
    parser.add_argument("--tasks", help="comma-separated subset of the demo tasks (default: every family present)")
    parser.add_argument("--retrain", action="store_true", help="train and export even when demo exports exist")
    parser.add_argument("--quick", action="store_true", help="one tiny epoch per recipe (smoke test, poor models)")
    parser.add_argument("--no-landscape", action="store_true", help="skip the classifier's loss landscape")
    parser.add_argument("--no-train", action="store_true", help="serve the exports present; train nothing")
    parser.add_argument("--no-app", action="store_true",
                        help="train/export in the foreground only, do not start Streamlit")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"app port (default {DEFAULT_PORT})")
    parser.add_argument("--address", default="127.0.0.1", help="app address (0.0.0.0 to serve the network)")


def run(args) -> int:
    from vras_keras.demo import background, launcher, recipes, status

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    options = dict(config_dir=args.configs, tasks=tasks, retrain=args.retrain, quick=args.quick,
                   landscape=not args.no_landscape)
    if args.no_app:  # foreground (e.g. `docker compose run --rm app vras demo --no-app`)
        outcomes = recipes.prepare(args.savedmodels, runs_dir=args.runs, **options)
        return 1 if any(o.status == "failed" for o in outcomes) else 0
    recipes.plan(args.configs, tasks)  # unknown tasks: exit 2 before anything starts
    launcher.check_port_free(args.port, args.address)  # a taken port: exit 2 before training starts
    worker = None
    if not args.no_train:
        todo = [r.task for r in recipes.DEMO_RECIPES if (not tasks or r.task in tasks)] if args.retrain \
            else recipes.missing_tasks(args.savedmodels, tasks)
        if not todo:
            launcher.say(f"every demo model is in {args.savedmodels}/ (--retrain trains them again)")
        elif status.trainer_alive(args.runs):
            launcher.say(f"a background trainer is already running on {args.runs}/ (see {args.runs}/"
                         f"{status.LOG_FILE})")
        else:
            worker = background.start(args.savedmodels, args.runs, **{**options, "tasks": todo})
            status.StatusBoard(args.runs, todo, pid=worker.pid)  # the pages see the queue at once
            launcher.say(f"training {', '.join(todo)} in the background, one at a time (log: {args.runs}/"
                         f"{status.LOG_FILE}); each demo page goes live when its model is exported")
    try:
        return launcher.serve(args.savedmodels, port=args.port, address=args.address, landscapes=[args.runs],
                              runs=args.runs)
    finally:
        background.stop(worker)


def needs_tensorflow(args) -> bool:
    """Only `--no-app` trains in this process; otherwise the app is served first and TensorFlow is imported by
    the background trainer and the pages (the URL comes within seconds)."""
    return bool(args.no_app)
