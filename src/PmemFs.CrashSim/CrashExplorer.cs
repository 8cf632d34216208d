using System.Diagnostics;
using PmemFs.Check;
using PmemFs.Engine;
using PmemFs.Media;

namespace PmemFs.CrashSim;

public enum CrashPointKind { BeforeFence, MidInterval, AfterFence, End }

/// <summary>A position of the recording where power fails.</summary>
/// <param name="Index">Number of the point in the workload (what a reproducer names).</param>
/// <param name="Position">Events of the recording applied before the crash.</param>
/// <param name="Returned">Operations that had returned.</param>
/// <param name="InFlight">The operation started but not returned, or -1.</param>
public sealed record CrashPoint(int Index, int Position, CrashPointKind Kind, int Returned, int InFlight);

public sealed record ExploreOptions
{
    public int Seed { get; init; } = 1;

    /// <summary>Crash states to check per workload at most (points are thinned evenly beyond it).</summary>
    public long BudgetPerWorkload { get; init; } = 2000;

    /// <summary>Points with at most this many pending lines get all their states enumerated (2^n with 2 versions per line).</summary>
    public int MaxSubset { get; init; } = 10;

    /// <summary>States sampled at a point with more pending lines than <see cref="MaxSubset"/>.</summary>
    public int SamplesPerPoint { get; init; } = 12;

    /// <summary>Check only this point (reproducer), with <see cref="OnlyState"/> if set.</summary>
    public int? OnlyPoint { get; init; }

    public long? OnlyState { get; init; }

    /// <summary>Also run fsck on the crash image before mounting it.</summary>
    public bool FsckBeforeMount { get; init; } = true;

    /// <summary>
    /// Rewrites the recording before simulation. Only for proving the checker bites (e.g. drop
    /// the engine's flushes and it must find lost operations); never set in real runs.
    /// </summary>
    public Func<Recording, Recording>? Sabotage { get; init; }

    /// <summary>Stop a workload after this many failures.</summary>
    public int MaxFailuresPerWorkload { get; init; } = 5;

    /// <summary>
    /// Every Nth first-crash state that recovers correctly has its recovery crashed in turn
    /// (<see cref="RecoveryCrashes"/>); 0: none.
    /// </summary>
    public int RecoveryCrashEvery { get; init; }

    /// <summary>Every Nth first-crash state is also recovered with random poison (<see cref="PoisonedRecovery"/>); 0: none.</summary>
    public int PoisonEvery { get; init; }

    /// <summary>Damaged images made from the workload (<see cref="DamagedImages"/>) whose <c>fsck --repair</c> is crashed (<see cref="RepairCrashes"/>); 0: none.</summary>
    public int RepairCrashImages { get; init; }

    /// <summary>Second-crash states per crashed recovery or repair at most (the same rules as <see cref="BudgetPerWorkload"/>).</summary>
    public long SecondBudget { get; init; } = 100;

    /// <summary>Reproducer: only this damaged image (skips the first-crash states).</summary>
    public int? OnlyRepairImage { get; init; }

    /// <summary>Reproducer: only this point (and <see cref="OnlySecondState"/>) of a crashed recovery or repair.</summary>
    public int? OnlySecondPoint { get; init; }

    public long? OnlySecondState { get; init; }

    /// <summary>Rewrites the recording of each crashed recovery or repair; only for proving the second-crash check bites.</summary>
    public Func<Recording, Recording>? SabotageRecovery { get; init; }
}

/// <summary>A crash state that broke the contract, and how to get it back.</summary>
/// <param name="Second">For a failure after a crash of the recovery (or of a repair): the options that rebuild it, e.g. "--recovery-crashes 1 --second-point 3 --second-state 7".</param>
public sealed record CrashFailure(string Workload, int Seed, CrashPoint Point, long State, int MaxSubset, string Problem, string Lines, string? Second = null)
{
    public string Reproducer => Second is not null && Second.StartsWith("--repair", StringComparison.Ordinal)
        ? $"pmemfs crashtest --workload {Workload} --seed {Seed} {Second}"
        : $"pmemfs crashtest --workload {Workload} --seed {Seed} --max-subset {MaxSubset} --point {Point.Index} --state {State}" + (Second is null ? "" : " " + Second);
}

public sealed record WorkloadResult(string Workload, int Seed, int Operations, int RecordedEvents, int CrashPoints, int PointsChecked, long States, long EnumeratedPoints, long SampledPoints, int MaxPending, TimeSpan Elapsed, IReadOnlyList<CrashFailure> Failures,
    int RecoveriesCrashed = 0, long RecoveryStates = 0, int RepairsCrashed = 0, long RepairStates = 0, int RepairsSkipped = 0, int PoisonedRecoveries = 0);

/// <summary>
/// Records a workload, then at each crash point builds crash images (durable stores plus a
/// choice of contents for each line in doubt) and checks them: fsck clean before and after
/// mount, mount recovers, and the recovered tree equals the model after the operations that
/// returned (or after the one in flight too).
/// </summary>
public static class CrashExplorer
{
    public static WorkloadResult Run(Workload workload, ExploreOptions options, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(workload);
        ArgumentNullException.ThrowIfNull(options);
        var clock = Stopwatch.StartNew();
        using var driver = new WorkloadDriver(options.Seed, workload.ImageSize, workload.Inodes);
        workload.Run(driver);
        var recording = Recording.From(driver.Media);
        if (options.Sabotage is { } sabotage) recording = sabotage(recording);
        var points = CrashPoints(recording, driver.CrashTestingFrom);
        // A reproducer that names no real point or state must say so, not check nothing and pass.
        if (options.OnlyPoint is { } wanted && (wanted < 0 || wanted >= points.Count))
            throw new CrashStateOutOfRangeException($"{workload.Name} seed {options.Seed} has crash points 0..{points.Count - 1}, not {wanted}");
        var snapshots = driver.Snapshots;
        var ops = driver.Operations;

        var failures = new List<CrashFailure>();
        long recoveryStates = 0, seen = 0;
        int recoveries = 0, poisoned = 0;
        var second = new StateRules(options.MaxSubset, options.SamplesPerPoint, options.SecondBudget, options.Seed);
        string secondArgs(SecondCrashFailure f) => $"--second-point {f.Point.Index} --second-state {f.State}";
        using var space = new CrashWorkspace(recording.Size);
        var walk = new WalkCounts(0, 0, 0, 0, 0);
        if (options.OnlyRepairImage is null)
        {
            walk = CrashStates.Walk(recording, points, null, space, new StateRules(options.MaxSubset, options.SamplesPerPoint, options.BudgetPerWorkload, options.Seed), s =>
            {
                // The image as the power loss left it, before the check's mount recovers it.
                bool crashRecovery = options.RecoveryCrashEvery > 0 && seen % options.RecoveryCrashEvery == 0;
                bool poison = options.PoisonEvery > 0 && seen % options.PoisonEvery == 0;
                seen++;
                byte[]? image = crashRecovery || poison ? space.Media.Read(0, (int)recording.Size).ToArray() : null;
                string? problem = Check(space, s.Point, snapshots, ops, options);
                if (problem is null && poison)
                {
                    poisoned++;
                    if (PoisonedRecovery.Check(image!, (int)(options.Seed * 7919 + seen)) is { } bad) problem = "with poison: " + bad;
                }
                string? again = null;
                string lines = CrashStates.Describe(s.Lines, s.Choice);
                if (problem is null && crashRecovery)
                {
                    var r = RecoveryCrashes.Check(image!, second, options.OnlySecondPoint, options.OnlySecondState, options.SabotageRecovery);
                    recoveries++;
                    recoveryStates += r.States;
                    if (r.Failure is { } f)
                    {
                        problem = $"first crash recovered, but its recovery {f}";
                        again = $"--recovery-crashes 1 --second-budget {options.SecondBudget} {secondArgs(f)}";
                        lines = $"first crash: {lines}; second crash: {f.Lines}";
                    }
                }
                if (problem is not null)
                {
                    var f = new CrashFailure(workload.Name, options.Seed, s.Point, s.State, options.MaxSubset, problem, lines, again);
                    failures.Add(f);
                    log?.Invoke($"FAIL {f.Reproducer}: {problem}");
                }
                return failures.Count < options.MaxFailuresPerWorkload;
            }, options.OnlyPoint, options.OnlyState, $"{workload.Name} seed {options.Seed}");
        }

        int repairs = 0, skipped = 0;
        long repairStates = 0;
        for (int k = 0; k < options.RepairCrashImages && failures.Count < options.MaxFailuresPerWorkload; k++)
        {
            if (options.OnlyRepairImage is { } only && only != k) continue;
            var damaged = DamagedImages.Make(recording, points, options.Seed, k);
            var r = RepairCrashes.Check(damaged.Bytes, second, options.OnlySecondPoint, options.OnlySecondState, options.SabotageRecovery);
            if (r.Crashes is null)
            {
                skipped++;
                continue;
            }
            repairs++;
            repairStates += r.Crashes.States;
            if (r.Crashes.Failure is { } f)
            {
                var end = points[^1];
                var failure = new CrashFailure(workload.Name, options.Seed, end, 0, options.MaxSubset, $"repair of {damaged.Description}: {f}", f.Lines,
                    $"--repair-crashes {options.RepairCrashImages} --repair-image {k} --second-budget {options.SecondBudget} {secondArgs(f)}");
                failures.Add(failure);
                log?.Invoke($"FAIL {failure.Reproducer}: {failure.Problem}");
            }
        }
        return new WorkloadResult(workload.Name, options.Seed, ops.Count, recording.Records.Length, points.Count, walk.PointsChecked, walk.States, walk.EnumeratedPoints, walk.SampledPoints, walk.MaxPending, clock.Elapsed, failures,
            recoveries, recoveryStates, repairs, repairStates, skipped, poisoned);
    }

    /// <summary>Crash points: just before and just after every drain, midway between drains, and the end.</summary>
    public static List<CrashPoint> CrashPoints(Recording recording, int from)
    {
        ArgumentNullException.ThrowIfNull(recording);
        var recs = recording.Records;
        var positions = new SortedDictionary<int, CrashPointKind>();
        int lastFence = from;
        for (int i = from; i < recs.Length; i++)
        {
            if (recs[i].Kind != RecordKind.Drain) continue;
            int mid = (lastFence + i) / 2;
            if (mid > lastFence && mid < i) positions.TryAdd(mid, CrashPointKind.MidInterval);
            positions.TryAdd(i, CrashPointKind.BeforeFence);
            positions[i + 1] = CrashPointKind.AfterFence;
            lastFence = i + 1;
        }
        positions.TryAdd(recs.Length, CrashPointKind.End);

        // Operation bookkeeping: returned count and in-flight operation at each position.
        var list = new List<CrashPoint>();
        int returned = 0, inFlight = -1, at = 0;
        foreach (var (pos, kind) in positions)
        {
            for (; at < pos; at++)
            {
                var r = recs[at];
                if (r.Kind == RecordKind.OperationStart) inFlight = (int)r.Arg;
                else if (r.Kind == RecordKind.OperationReturned) { returned = (int)r.Arg + 1; inFlight = -1; }
            }
            list.Add(new CrashPoint(list.Count, pos, kind, returned, inFlight));
        }
        return list;
    }

    /// <summary>The state's choice of version per line (<see cref="CrashStates.Choose"/>).</summary>
    public static int[] Choose(List<PendingLine> lines, bool enumerate, long state, int seed, int point) => CrashStates.Choose(lines, enumerate, state, seed, point);

    /// <summary>Checks one crash image against the contract; returns what is wrong, or null.</summary>
    private static string? Check(CrashWorkspace space, CrashPoint point, List<FsModel> snapshots, List<OperationInfo> ops, ExploreOptions options)
    {
        var media = space.Media;
        try
        {
            if (options.FsckBeforeMount)
            {
                var before = Fsck.Check(media, new FsckOptions());
                if (!before.IsClean) return "fsck of the crash image: " + Render(before);
            }
            FileSystem fs;
            try
            {
                fs = FileSystem.Mount(media, new FileSystemOptions { NoAtime = true, Name = "crash image" });
            }
            catch (Exception e)
            {
                return $"mount refused the crash image: {e.GetType().Name}: {e.Message}";
            }
            FsModel seen;
            string? accounting;
            using (fs)
            {
                try
                {
                    seen = FsModel.Observe(fs, out accounting);
                }
                catch (Exception e)
                {
                    return $"reading the recovered tree failed: {e.GetType().Name}: {e.Message}";
                }
            }
            var after = Fsck.Check(media, new FsckOptions());
            if (!after.IsClean) return "fsck after mount and unmount: " + Render(after);
            if (accounting is not null) return "after recovery: " + accounting;
            return ContractProblem(seen, point, snapshots, ops);
        }
        catch (Exception e)
        {
            return $"checker stopped: {e.GetType().Name}: {e.Message}";
        }
    }

    /// <summary>The tree must equal the model after the returned operations, or after the one in flight too.</summary>
    public static string? ContractProblem(FsModel seen, CrashPoint point, List<FsModel> snapshots, List<OperationInfo> ops)
    {
        ArgumentNullException.ThrowIfNull(seen);
        ArgumentNullException.ThrowIfNull(point);
        ArgumentNullException.ThrowIfNull(snapshots);
        ArgumentNullException.ThrowIfNull(ops);
        int k = point.Returned;
        string? asReturned = seen.DifferenceFrom(snapshots[k]);
        if (asReturned is null) return null;
        if (point.InFlight < 0)
            return $"after {k} returned operations (none in flight): {asReturned}";
        var op = ops[point.InFlight];
        string? asDone = seen.DifferenceFrom(snapshots[k + 1]);
        if (asDone is null) return null;
        if (op.InPlaceIno != 0 && snapshots[k + 1].Nodes.TryGetValue(op.InPlaceIno, out var newer))
        {
            string? cut = seen.DifferenceFrom(snapshots[k], op.InPlaceIno, newer.Data);
            if (cut is null) return null;
        }
        return $"operation {point.InFlight} ({op.Description}) in flight after {k} returned: neither the state before it ({asReturned}) nor after it ({asDone})";
    }

    private static string Render(FsckReport report) =>
        string.Join("; ", report.Problems.Take(5).Select(p => p.ToString())) + (report.Problems.Count > 5 ? $"; ... ({report.Problems.Count} problems)" : "");
}

/// <summary>A reproducer's --point or --state names nothing that exists for its workload and seed.</summary>
public sealed class CrashStateOutOfRangeException(string message) : Exception(message)
{
    public CrashStateOutOfRangeException() : this("no such crash point or state") { }

    public CrashStateOutOfRangeException(string message, Exception inner) : this(message + ": " + inner.Message) { }
}
