#!/usr/bin/env python3
"""Runs meta-training variants x seeds on one budget and tabulates their GTN accuracy.

Each variant is NAME=FLAGS, the flags added to `gtn train`; every run gets the same budget
(--outer or --time-limit), evaluation (--eval-learners) and data. The accuracy of a run is its
last evaluation in metrics.jsonl: K fresh learners trained T steps on the teacher's curriculum,
scored on the test set. Per variant the table gives mean, standard deviation over seeds, a 95%
interval for the mean (Student's t), the worst seed, and the skipped and clipped iterations.

    scripts/ablate.py --out ablation --seeds 0-4 --budget "--outer 50" \
        base= rotating="--rotating-labels" k2="--learners-per-iteration 2"

Runs already finished in --out are reused and unfinished ones resumed, so an interrupted
ablation continues where it stopped.
Writes OUT/results.json and OUT/results.md (with the command that made them).
"""
import argparse
import json
import math
import os
import shlex
import shutil
import subprocess
import sys

# Two-sided 95% Student-t quantiles for 1..30 degrees of freedom.
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
       2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def parse_seeds(text):
    seeds = []
    for part in text.split(","):
        if "-" in part:
            low, high = part.split("-")
            seeds += range(int(low), int(high) + 1)
        else:
            seeds.append(int(part))
    return seeds


def summarize(accuracies):
    n = len(accuracies)
    mean = sum(accuracies) / n
    std = math.sqrt(sum((a - mean) ** 2 for a in accuracies) / (n - 1)) if n > 1 else 0.0
    half = T95[min(n - 1, len(T95)) - 1] * std / math.sqrt(n) if n > 1 else float("nan")
    return mean, std, half


def read_run(directory):
    rows = [json.loads(line) for line in open(os.path.join(directory, "metrics.jsonl")) if line.strip()]
    iterations = [r for r in rows if "meta_loss" in r]
    evaluations = [r for r in rows if r.get("type") == "evaluation"]
    if not evaluations:
        return None
    last = evaluations[-1]
    return {"accuracy": last["gtn_accuracy_mean"], "iteration": last["iteration"],
            "curve": [(r["iteration"], r["gtn_accuracy_mean"]) for r in evaluations],
            "skipped": sum(1 for r in iterations if r["skipped"]), "clipped": sum(1 for r in iterations if r["clipped"])}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="+", help="NAME=FLAGS for gtn train (FLAGS may be empty)")
    parser.add_argument("--out", required=True, help="directory for the runs and the tables")
    parser.add_argument("--seeds", default="0-4", help="seeds, e.g. 0-4 or 0,2,5 (default 0-4)")
    parser.add_argument("--budget", default="--outer 50", help='the budget flags every run gets (default "--outer 50")')
    parser.add_argument("--gtn", default=".build/release/gtn", help="the gtn binary (default .build/release/gtn)")
    parser.add_argument("--common", default="--eval-every 10 --eval-learners 8", help="flags every run gets besides the budget")
    args = parser.parse_args()

    seeds = parse_seeds(args.seeds)
    variants = []
    for spec in args.variants:
        if "=" not in spec:
            sys.exit(f"ablate.py: variant '{spec}' is not NAME=FLAGS")
        name, flags = spec.split("=", 1)
        variants.append((name, flags))
    os.makedirs(args.out, exist_ok=True)

    results = []
    for name, flags in variants:
        runs = []
        for seed in seeds:
            directory = os.path.join(args.out, f"{name}-s{seed}")
            marker = os.path.join(directory, ".ablate-finished")
            if not os.path.exists(marker):
                command = [args.gtn, "train", "--seed", str(seed), "--out", directory] + shlex.split(args.budget) \
                    + shlex.split(args.common) + shlex.split(flags)
                if os.path.exists(os.path.join(directory, "checkpoint.safetensors")):
                    command.append("--resume")
                elif os.path.exists(directory):
                    shutil.rmtree(directory)
                print("+", " ".join(shlex.quote(c) for c in command), flush=True)
                with open(directory + ".log", "a") as log:
                    status = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT)
                if status == 0:
                    open(marker, "w").close()
                else:
                    print(f"ablate.py: {name} seed {seed} exited with {status}; see {directory}.log", file=sys.stderr)
            run = read_run(directory) if os.path.exists(os.path.join(directory, "metrics.jsonl")) else None
            if run:
                run["seed"] = seed
                runs.append(run)
                print(f"{name} seed {seed}: {100 * run['accuracy']:.2f}% after {run['iteration']} (skipped {run['skipped']}, clipped {run['clipped']})", flush=True)
        if runs:
            accuracies = [r["accuracy"] for r in runs]
            mean, std, half = summarize(accuracies)
            results.append({"variant": name, "flags": flags, "seeds": [r["seed"] for r in runs], "accuracies": accuracies,
                            "mean": mean, "std": std, "ci95": [mean - half, mean + half], "worst": min(accuracies),
                            "skipped": sum(r["skipped"] for r in runs), "clipped": sum(r["clipped"] for r in runs),
                            "curves": {str(r["seed"]): r["curve"] for r in runs}})

    command = "scripts/ablate.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"command": command, "budget": args.budget, "common": args.common, "variants": results}, f, indent=1)
    lines = [f"`{command}`", "", "| variant | flags | GTN accuracy, mean ± std | 95% interval | worst seed | seeds | skipped | clipped |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['variant']} | `{r['flags'] or '(defaults)'}` | {100 * r['mean']:.2f}% ± {100 * r['std']:.2f} | "
                     f"{100 * r['ci95'][0]:.2f}–{100 * r['ci95'][1]:.2f}% | {100 * r['worst']:.2f}% | {len(r['seeds'])} | "
                     f"{r['skipped']} | {r['clipped']} |")
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
