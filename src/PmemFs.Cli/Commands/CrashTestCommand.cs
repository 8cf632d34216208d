using System.CommandLine;
using System.Diagnostics;
using PmemFs.Cli.Output;
using PmemFs.CrashSim;

namespace PmemFs.Cli.Commands;

/// <summary>
/// <c>pmemfs crashtest</c>: records workloads on an in-memory image, enumerates the states a
/// power loss could leave at every fence (docs/crash-testing.md), and checks each: fsck clean,
/// mount recovers, every returned operation present, none half applied, no foreign bytes.
/// Exit codes: 0 no failure, 1 failures (or an error), 2 usage.
/// </summary>
public static class CrashTestCommand
{
    public const string Name = "crashtest";

    public sealed record Request(int Seed, int Seeds, long Budget, string Workload, int MaxSubset, int Samples, int? Point, long? State, bool Json, bool Quiet, int RecoveryCrashEvery = 0,
        int RepairCrashes = 0, long SecondBudget = 100, int? RepairImage = null, int? SecondPoint = null, long? SecondState = null, int PoisonEvery = 0);

    public static Command Build(CliConsole console)
    {
        var seed = new Option<int>("--seed") { Description = "Seed of data patterns, random mixes and sampled states (default 1).", DefaultValueFactory = _ => 1 };
        var seeds = new Option<int>("--seeds") { Description = "Run seeds SEED .. SEED+N-1 (default 1).", DefaultValueFactory = _ => 1 };
        var budget = new Option<long>("--budget") { Description = "Crash states to check per workload and seed at most (default 2000).", DefaultValueFactory = _ => 2000 };
        var workload = new Option<string>("--workload") { Description = "A workload name, or all (default).", DefaultValueFactory = _ => "all" };
        var maxSubset = new Option<int>("--max-subset") { Description = "Enumerate every state of a crash point with at most 2^N of them; sample beyond (default 10).", DefaultValueFactory = _ => 10 };
        var samples = new Option<int>("--samples") { Description = "States sampled at a crash point too big to enumerate (default 12).", DefaultValueFactory = _ => 12 };
        var point = new Option<int?>("--point") { Description = "Only this crash point (from a reproducer)." };
        var state = new Option<long?>("--state") { Description = "Only this state of the crash point (from a reproducer)." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object." };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No per-workload lines, only the summary and failures." };
        var recoveryCrashes = new Option<int>("--recovery-crashes")
        {
            Description = "Also crash the recovery: every Nth first-crash state that recovers correctly has its recovery (replay, orphans, truncates, checkpoint) crashed at each fence and recovered again, which must give the same tree (0: off, the default).",
            HelpName = "N",
        };
        var repairCrashes = new Option<int>("--repair-crashes")
        {
            Description = "Also crash fsck --repair: N damaged images per workload and seed (crash images with random metadata flips) are repaired once, then the repair is crashed at each fence and repaired again, which must converge to the same clean tree (0: off, the default).",
            HelpName = "N",
        };
        var poisonEvery = new Option<int>("--poison")
        {
            Description = "Also recover every Nth crash state with 1-3 random bad ranges (emulated poison): fsck and recovery never crash or read through it, and files read back as errors or exactly (0: off, the default).",
            HelpName = "N",
        };
        var secondBudget = new Option<long>("--second-budget") { Description = "States per crashed recovery or repair at most (default 100).", DefaultValueFactory = _ => 100 };
        var repairImage = new Option<int?>("--repair-image") { Description = "Only this damaged image, and no first-crash states (from a reproducer)." };
        var secondPoint = new Option<int?>("--second-point") { Description = "Only this crash point of the crashed recovery or repair (from a reproducer)." };
        var secondState = new Option<long?>("--second-state") { Description = "Only this state of that point (from a reproducer)." };
        var command = new Command(Name, "Enumerate power-loss states of recorded workloads and check the durability contract. Exit: 0 none failed, 1 failures or error, 2 usage.")
        {
            seed, seeds, budget, workload, maxSubset, samples, point, state, json, quiet, recoveryCrashes,
            repairCrashes, secondBudget, repairImage, secondPoint, secondState, poisonEvery,
        };
        command.SetAction(parsed => Run(console, new Request(
            parsed.GetValue(seed), parsed.GetValue(seeds), parsed.GetValue(budget), parsed.GetValue(workload)!, parsed.GetValue(maxSubset),
            parsed.GetValue(samples), parsed.GetValue(point), parsed.GetValue(state), parsed.GetValue(json), parsed.GetValue(quiet), parsed.GetValue(recoveryCrashes),
            parsed.GetValue(repairCrashes), parsed.GetValue(secondBudget), parsed.GetValue(repairImage), parsed.GetValue(secondPoint), parsed.GetValue(secondState), parsed.GetValue(poisonEvery))));
        return command;
    }

    public static int Run(CliConsole console, Request request)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(request);
        string? usage = UsageProblem(request);
        if (usage is not null)
        {
            console.Fail(Name, usage);
            return ExitCodes.Usage;
        }
        return CommandGuard.Run(console, Name, ExitCodes.Failure, () => Explore(console, request));
    }

    private static string? UsageProblem(Request r)
    {
        if (r.Workload != "all" && Workloads.Find(r.Workload) is null)
            return $"unknown workload \"{r.Workload}\"; one of: all, {string.Join(", ", Workloads.All.Select(w => w.Name))}";
        if (r.Budget <= 0) return "--budget must be positive";
        if (r.Seeds <= 0) return "--seeds must be positive";
        if (r.MaxSubset is < 0 or > 40) return "--max-subset must be between 0 and 40";
        if (r.Samples <= 0) return "--samples must be positive";
        if (r.RecoveryCrashEvery < 0) return "--recovery-crashes must be 0 or positive";
        if (r.PoisonEvery < 0) return "--poison must be 0 or positive";
        if (r.RepairCrashes < 0) return "--repair-crashes must be 0 or positive";
        if (r.SecondBudget <= 0) return "--second-budget must be positive";
        if (r.RepairImage is { } image && (image < 0 || image >= r.RepairCrashes)) return "--repair-image needs --repair-crashes above it";
        if (r.SecondState is not null && r.SecondPoint is null) return "--second-state needs --second-point";
        if (r.SecondPoint is not null && r.RecoveryCrashEvery == 0 && r.RepairImage is null) return "--second-point needs --recovery-crashes or --repair-image";
        if (r.State is not null && r.Point is null) return "--state needs --point";
        if ((r.Point is not null || r.RepairImage is not null) && r.Workload == "all") return "--point and --repair-image need --workload";
        return null;
    }

    private static int Explore(CliConsole console, Request request)
    {
        var workloads = request.Workload == "all" ? Workloads.All : [Workloads.Find(request.Workload)!];
        var results = new List<WorkloadResult>();
        var clock = Stopwatch.StartNew();
        for (int s = 0; s < request.Seeds; s++)
        {
            var options = new ExploreOptions
            {
                Seed = request.Seed + s,
                BudgetPerWorkload = request.Budget,
                MaxSubset = request.MaxSubset,
                SamplesPerPoint = request.Samples,
                OnlyPoint = request.Point,
                OnlyState = request.State,
                RecoveryCrashEvery = request.RecoveryCrashEvery,
                RepairCrashImages = request.RepairCrashes,
                SecondBudget = request.SecondBudget,
                OnlyRepairImage = request.RepairImage,
                OnlySecondPoint = request.SecondPoint,
                OnlySecondState = request.SecondState,
                PoisonEvery = request.PoisonEvery,
            };
            foreach (var w in workloads)
            {
                WorkloadResult r;
                try { r = CrashExplorer.Run(w, options); }
                catch (CrashStateOutOfRangeException e) { throw CommandGuard.Fail(e.Message); }
                results.Add(r);
                if (!request.Json && !request.Quiet)
                    console.Out.WriteLine($"{r.Workload,-26} seed {r.Seed,-4} {r.Operations,5} ops {r.CrashPoints,6} crash points {r.States,8} states {r.Failures.Count,3} failures {r.Elapsed.TotalSeconds,7:F1} s"
                        + (r.RecoveriesCrashed > 0 ? $"; {r.RecoveriesCrashed} recoveries crashed in {r.RecoveryStates} states" : "")
                        + (r.RepairsCrashed + r.RepairsSkipped > 0 ? $"; {r.RepairsCrashed} repairs crashed in {r.RepairStates} states ({r.RepairsSkipped} images skipped)" : "")
                        + (r.PoisonedRecoveries > 0 ? $"; {r.PoisonedRecoveries} recovered with poison" : ""));
            }
        }
        var failures = results.SelectMany(r => r.Failures).ToList();
        if (request.Json) WriteJson(console.Out, results, failures, clock.Elapsed);
        else WriteText(console.Out, results, failures, clock.Elapsed);
        return failures.Count == 0 ? ExitCodes.Ok : ExitCodes.Failure;
    }

    private static void WriteText(TextWriter output, List<WorkloadResult> results, List<CrashFailure> failures, TimeSpan elapsed)
    {
        foreach (var f in failures)
        {
            output.WriteLine($"FAILED: {f.Workload} seed {f.Seed} crash point {f.Point.Index} ({f.Point.Kind}, event {f.Point.Position}, {f.Point.Returned} operations returned{(f.Point.InFlight >= 0 ? $", operation {f.Point.InFlight} in flight" : "")}), state {f.State}");
            output.WriteLine("  saw: " + CliConsole.OneLine(f.Problem));
            output.WriteLine("  lines: " + CliConsole.OneLine(f.Lines));
            output.WriteLine("  reproduce: " + f.Reproducer);
        }
        long states = results.Sum(r => r.States);
        output.WriteLine($"{results.Count} workload runs, {results.Sum(r => r.CrashPoints)} crash points ({results.Sum(r => r.PointsChecked)} checked), {states} crash states explored, {failures.Count} failures, {elapsed.TotalSeconds:F1} s ({(states == 0 ? 0 : elapsed.TotalMilliseconds / states):F2} ms per state)");
        if (results.Sum(r => r.RecoveriesCrashed) is int recoveries and > 0)
            output.WriteLine($"recovery crashed in {recoveries} of those states: {results.Sum(r => r.RecoveryStates)} second-crash states recovered again");
        if (results.Sum(r => r.RepairsCrashed + r.RepairsSkipped) > 0)
            output.WriteLine($"fsck --repair crashed on {results.Sum(r => r.RepairsCrashed)} damaged images: {results.Sum(r => r.RepairStates)} second-crash states repaired again ({results.Sum(r => r.RepairsSkipped)} images skipped: refused or left unclean by one uninterrupted repair)");
    }

    private static void WriteJson(TextWriter output, List<WorkloadResult> results, List<CrashFailure> failures, TimeSpan elapsed) => Json.Write(output, w =>
    {
        w.WriteStartObject();
        w.WriteNumber("workloadRuns", results.Count);
        w.WriteNumber("crashPoints", results.Sum(r => r.CrashPoints));
        w.WriteNumber("crashPointsChecked", results.Sum(r => r.PointsChecked));
        w.WriteNumber("states", results.Sum(r => r.States));
        w.WriteNumber("recoveriesCrashed", results.Sum(r => r.RecoveriesCrashed));
        w.WriteNumber("recoveryStates", results.Sum(r => r.RecoveryStates));
        w.WriteNumber("repairsCrashed", results.Sum(r => r.RepairsCrashed));
        w.WriteNumber("repairStates", results.Sum(r => r.RepairStates));
        w.WriteNumber("repairImagesSkipped", results.Sum(r => r.RepairsSkipped));
        w.WriteNumber("failures", failures.Count);
        w.WriteNumber("seconds", Math.Round(elapsed.TotalSeconds, 3));
        w.WriteStartArray("workloads");
        foreach (var r in results)
        {
            w.WriteStartObject();
            w.WriteString("name", r.Workload);
            w.WriteNumber("seed", r.Seed);
            w.WriteNumber("operations", r.Operations);
            w.WriteNumber("events", r.RecordedEvents);
            w.WriteNumber("crashPoints", r.CrashPoints);
            w.WriteNumber("crashPointsChecked", r.PointsChecked);
            w.WriteNumber("states", r.States);
            w.WriteNumber("enumeratedPoints", r.EnumeratedPoints);
            w.WriteNumber("sampledPoints", r.SampledPoints);
            w.WriteNumber("maxLinesInDoubt", r.MaxPending);
            w.WriteNumber("recoveriesCrashed", r.RecoveriesCrashed);
            w.WriteNumber("recoveryStates", r.RecoveryStates);
            w.WriteNumber("repairsCrashed", r.RepairsCrashed);
            w.WriteNumber("repairStates", r.RepairStates);
            w.WriteNumber("repairImagesSkipped", r.RepairsSkipped);
            w.WriteNumber("failures", r.Failures.Count);
            w.WriteNumber("seconds", Math.Round(r.Elapsed.TotalSeconds, 3));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("failureDetails");
        foreach (var f in failures)
        {
            w.WriteStartObject();
            w.WriteString("workload", f.Workload);
            w.WriteNumber("seed", f.Seed);
            w.WriteNumber("point", f.Point.Index);
            w.WriteString("pointKind", f.Point.Kind.ToString());
            w.WriteNumber("event", f.Point.Position);
            w.WriteNumber("returned", f.Point.Returned);
            w.WriteNumber("inFlight", f.Point.InFlight);
            w.WriteNumber("state", f.State);
            w.WriteString("problem", f.Problem);
            w.WriteString("lines", f.Lines);
            w.WriteString("reproducer", f.Reproducer);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    });
}
