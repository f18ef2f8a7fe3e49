#!/usr/bin/env python3
# Differential check of the class path under stragglers and faults: random small cases (DeepSeek-V3
# shapes on 256 H800, random layers (the first stage dense only or not), EP width, leaves, planes,
# oversubscription, routing, schedule, tp, and one to three
# stragglers, degraded or failed NICs, NVLinks and leaf links), each simulated by auto and by --full;
# prints every case and the report fields that differ (any: a bug), then the count of such cases.
# FAULTS "A-B": between A and B stragglers and faults a case (default 1-3); with none auto takes the
# symmetric path (balanced routing) or the class path (Zipf), which keep only the simulated GPUs' links
# and their leaves' switch links.
# usage: scripts/compare-class-path.py [BUILD_DIR] [SEED] [CASES] [FAULTS]   (default: build 1 20 1-3; ~1-2 s a case)
import json, random, subprocess, sys

build = sys.argv[1] if len(sys.argv) > 1 else "build"
random.seed(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
cases = int(sys.argv[3]) if len(sys.argv) > 3 else 20
fewest, most = (int(x) for x in (sys.argv[4] if len(sys.argv) > 4 else "1-3").split("-"))
tandem = f"{build}/app/tandem"
base = ["--set", "cluster.nodes=32", "--set", "plan.pp=4", "--set", "plan.global_batch_seqs=512"]
bad = 0
for _ in range(cases):
    args = list(base)
    # 4 layers with 1 or 2 dense, or 6 with 1: the first stage may hold dense layers only (no all-to-all).
    layers, dense = random.choice([(4, 1), (4, 2), (6, 1), (6, 1)])
    args += ["--set", f"model.num_layers={layers}", "--set", f"model.first_dense_layers={dense}"]
    args += ["--set", f"plan.ep={random.choice([8, 16, 32])}"]
    per_leaf = random.choice([32, 8, 4])
    args += ["--set", f"cluster.nodes_per_leaf={per_leaf}"]
    if random.random() < 0.5:
        args += ["--set", "cluster.oversubscription=" + random.choice(["1.5", "2", "4"])]
    if random.random() < 0.4:
        args += ["--set", 'plan.routing={"kind":"zipf","zipf_exponent":1.2}']
    if random.random() < 0.3:
        args += ["--set", "plan.schedule=" + random.choice(["1f1b", "zb1p"])]
    if random.random() < 0.3:
        args += ["--set", "plan.tp=2"]
    planes = 8
    if random.random() < 0.3:   # two GPUs of a node on each plane: a plane's marks hold several GPUs of a node
        planes = 4
        args += ["--set", "cluster.planes=4"]
    leaves = 32 // per_leaf
    for _ in range(random.randint(fewest, most)):
        k = random.random()
        if k < 0.3:
            args += ["--straggler", f"{random.randrange(256)}:{random.choice(['1.1', '1.5', '3'])}"]
        elif k < 0.5:
            args += ["--fail-link", f"nic:{random.randrange(256)}"]
        elif k < 0.65:
            args += ["--degrade-link", f"nic:{random.randrange(256)}={random.choice(['0.5', '0.1'])}"]
        elif k < 0.8:
            args += ["--degrade-link", f"nvlink:{random.randrange(256)}=0.5"]
        elif leaves > 1 and k < 0.9:
            args += ["--degrade-link", f"leaf:{random.randrange(planes)}.{random.randrange(leaves)}=0.5"]
        elif leaves > 1:
            args += ["--fail-link", f"leaf:{random.randrange(planes)}.{random.randrange(leaves)}"]
    runs = [subprocess.run([tandem, "simulate", "deepseek-v3-pretrain", "--json"] + extra + args,
                           capture_output=True, text=True) for extra in ([], ["--full"])]
    shown = " ".join(args[len(base):])
    if any(r.returncode != 0 for r in runs):
        # Both refused: bad input for both paths. One refused: a path failed where the other ran (a bug).
        same = runs[0].returncode == runs[1].returncode
        bad += not same
        print("refused" if same else "DIFFERS in exit code", [r.returncode for r in runs], shown,
              (runs[0].stderr or runs[1].stderr).strip()[:120])
        continue
    auto, full = (json.loads(r.stdout) for r in runs)
    path = auto.pop("mode")
    full.pop("mode")
    events = auto.pop("simulation")["events"], full.pop("simulation")["events"]
    differ = sorted(k for k in set(auto) | set(full)
                    if json.dumps(auto.get(k), sort_keys=True) != json.dumps(full.get(k), sort_keys=True))
    bad += bool(differ)
    print("DIFFERS" if differ else "same", path, events, shown, differ if differ else "")
print(f"{bad} of {cases} cases differ")
sys.exit(1 if bad else 0)
