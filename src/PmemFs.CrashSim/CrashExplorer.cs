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
}

/// <summary>A crash state that broke the contract, and how to get it back.</summary>
public sealed record CrashFailure(string Workload, int Seed, CrashPoint Point, long State, int MaxSubset, string Problem, string Lines)
{
    public string Reproducer => $"pmemfs crashtest --workload {Workload} --seed {Seed} --max-subset {MaxSubset} --point {Point.Index} --state {State}";
}

public sealed record WorkloadResult(string Workload, int Seed, int Operations, int RecordedEvents, int CrashPoints, int PointsChecked, long States, long EnumeratedPoints, long SampledPoints, int MaxPending, TimeSpan Elapsed, IReadOnlyList<CrashFailure> Failures,
    int RecoveriesCrashed = 0, long RecoveryStates = 0, int PoisonedRecoveries = 0);

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

        // Pass 1 (simulation only): how many lines are in doubt at each point, to plan the budget.
        var counts = new long[points.Count];
        var pending = new int[points.Count];
        {
            var sim = new PmemSimulator(recording);
            for (int i = 0; i < points.Count; i++)
            {
                if (options.OnlyPoint is { } only && only != i) continue;
                sim.AdvanceTo(points[i].Position);
                var lines = sim.PendingLines();
                pending[i] = lines.Count;
                counts[i] = PlannedStates(lines, options);
            }
        }
        long total = counts.Sum();
        double ratio = total <= options.BudgetPerWorkload ? 1 : (double)options.BudgetPerWorkload / total;
        int pointStride = 1;
        if (options.OnlyPoint is null && points.Count > options.BudgetPerWorkload) pointStride = (int)Math.Ceiling((double)points.Count / options.BudgetPerWorkload);

        var failures = new List<CrashFailure>();
        long states = 0, enumerated = 0, sampled = 0, recoveryStates = 0;
        int recoveries = 0, poisoned = 0;
        int checkedPoints = 0;
        using var space = new CrashWorkspace(recording.Size);
        var simulator = new PmemSimulator(recording) { DurableLineChanged = space.DurableChanged };
        for (int i = 0; i < points.Count && failures.Count < options.MaxFailuresPerWorkload; i++)
        {
            if (options.OnlyPoint is { } only ? only != i : i % pointStride != 0) continue;
            var point = points[i];
            simulator.AdvanceTo(point.Position);
            var lines = simulator.PendingLines();
            bool enumerate = IsEnumerated(lines, options);
            if (enumerate) enumerated++; else sampled++;
            checkedPoints++;
            long count = counts[i];
            if (options.OnlyState is { } st && (st < 0 || (enumerate && st >= count)))
                throw new CrashStateOutOfRangeException($"{workload.Name} seed {options.Seed} crash point {i} has states 0..{(enumerate ? count - 1 : long.MaxValue)}, not {st}");
            long take = options.OnlyState is not null ? 1 : Math.Max(1, (long)Math.Round(count * ratio));
            for (long t = 0; t < take && failures.Count < options.MaxFailuresPerWorkload; t++)
            {
                long state = options.OnlyState ?? (take == count ? t : t * (count - 1) / Math.Max(1, take - 1));
                var choice = Choose(lines, enumerate, state, options.Seed, i);
                space.Build(simulator.Durable, lines, choice);
                // The image as the power loss left it, before the check's mount recovers it.
                bool crashRecovery = options.RecoveryCrashEvery > 0 && states % options.RecoveryCrashEvery == 0;
                bool poison = options.PoisonEvery > 0 && states % options.PoisonEvery == 0;
                byte[]? image = crashRecovery || poison ? space.Media.Read(0, (int)recording.Size).ToArray() : null;
                string? problem = Check(space, point, snapshots, ops, options);
                states++;
                if (problem is null && poison)
                {
                    poisoned++;
                    if (PoisonedRecovery.Check(image!, (int)(options.Seed * 7919 + states)) is { } bad) problem = "with poison: " + bad;
                }
                if (problem is null && crashRecovery)
                {
                    var (n, _, again) = RecoveryCrashes.Check(image!, options.MaxSubset, Math.Min(options.SamplesPerPoint, 4), options.Seed);
                    recoveries++;
                    recoveryStates += n;
                    if (again is not null) problem = "first crash recovered, but " + again;
                }
                if (problem is not null)
                {
                    var f = new CrashFailure(workload.Name, options.Seed, point, state, options.MaxSubset, problem, DescribeChoice(lines, choice));
                    failures.Add(f);
                    log?.Invoke($"FAIL {f.Reproducer}: {problem}");
                }
            }
        }
        return new WorkloadResult(workload.Name, options.Seed, ops.Count, recording.Records.Length, points.Count, checkedPoints, states, enumerated, sampled, pending.Length == 0 ? 0 : pending.Max(), clock.Elapsed, failures,
            recoveries, recoveryStates, poisoned);
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

    private static bool IsEnumerated(List<PendingLine> lines, ExploreOptions o) => EnumeratedStates(lines, o) is not null;

    /// <summary>Product of (1 + versions) over the lines, or null beyond 2^<see cref="ExploreOptions.MaxSubset"/> (the point is sampled).</summary>
    private static long? EnumeratedStates(List<PendingLine> lines, ExploreOptions o)
    {
        long cap = 1L << Math.Min(o.MaxSubset, 40);
        long n = 1;
        foreach (var l in lines)
        {
            n *= 1 + l.Versions.Length;
            if (n > cap) return null;
        }
        return n;
    }

    private static long PlannedStates(List<PendingLine> lines, ExploreOptions o) => EnumeratedStates(lines, o) ?? o.SamplesPerPoint;

    /// <summary>
    /// Version chosen for each line (0 = durable content, v = Versions[v - 1]). Enumerated points
    /// decode <paramref name="state"/> in mixed radix; sampled ones use state 0 = nothing reached,
    /// 1 = every latest version reached, others seeded random choices.
    /// </summary>
    public static int[] Choose(List<PendingLine> lines, bool enumerate, long state, int seed, int point)
    {
        ArgumentNullException.ThrowIfNull(lines);
        var c = new int[lines.Count];
        if (enumerate)
        {
            for (int i = 0; i < c.Length; i++)
            {
                int radix = 1 + lines[i].Versions.Length;
                c[i] = (int)(state % radix);
                state /= radix;
            }
            return c;
        }
        if (state == 0) return c;
        if (state == 1)
        {
            for (int i = 0; i < c.Length; i++) c[i] = lines[i].Versions.Length;
            return c;
        }
        // Not HashCode.Combine: it is salted per process, and a reproducer runs in a new one.
        long key = ((long)seed * 1_000_003 + point) * 1_000_003 + state;
        var rng = new Random((int)(key ^ (key >>> 32)));
        // Vary the density: some states lose almost everything, others almost nothing.
        double keep = rng.NextDouble();
        for (int i = 0; i < c.Length; i++)
            c[i] = rng.NextDouble() < keep ? 1 + rng.Next(lines[i].Versions.Length) : 0;
        return c;
    }

    private static string DescribeChoice(List<PendingLine> lines, int[] choice)
    {
        int reached = choice.Count(v => v != 0);
        var sb = new System.Text.StringBuilder($"{lines.Count} lines in doubt, {reached} reached the media");
        for (int i = 0; i < lines.Count && i < 16; i++)
            sb.Append($"; line 0x{lines[i].Line * PmemSimulator.LineSize:x}: {(choice[i] == 0 ? "lost" : $"v{choice[i]}/{lines[i].Versions.Length}")}");
        if (lines.Count > 16) sb.Append("; ...");
        return sb.ToString();
    }

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
