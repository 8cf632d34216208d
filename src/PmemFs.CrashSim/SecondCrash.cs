using PmemFs.Media;

namespace PmemFs.CrashSim;

/// <summary>A second-crash state whose recovery did not give the uninterrupted recovery's result.</summary>
public sealed record SecondCrashFailure(CrashPoint Point, int Events, long State, string Problem, string Lines)
{
    public override string ToString() => $"crashed at point {Point.Index} ({Point.Kind}, event {Point.Position} of {Events}), state {State}: {Problem}";
}

/// <param name="States">Second-crash states recovered again.</param>
/// <param name="Points">Crash points of the recorded recovery (its fences before, after and between).</param>
public sealed record SecondCrashResult(long States, int Points, int PointsChecked, int Events, SecondCrashFailure? Failure);

/// <summary>
/// A power loss during a recovery (issue 13): the recovery (mount's replay and finishing of
/// interrupted work, or <c>fsck --repair</c>) is run once on a copy of an image over a
/// <see cref="RecordingMedia"/>, then crashed at every point of that recording, in the states
/// <see cref="CrashStates"/> picks under the same rules as a workload's crash; each state is
/// handed to a check that recovers it again and compares with the uninterrupted result.
/// </summary>
public static class SecondCrash
{
    /// <param name="image">The media before the recovery: everything on it is durable (a crash image, or a damaged one).</param>
    /// <param name="recover">The recovery to record (it must leave nothing it wants kept unflushed).</param>
    /// <param name="checkAgain">Recovers one second-crash state and says what is wrong, or null.</param>
    /// <param name="sabotage">Rewrites the recovery's recording; only for proving the check bites.</param>
    public static SecondCrashResult Explore(byte[] image, Action<IMedia> recover, Func<IMedia, string?> checkAgain, StateRules rules,
        int? onlyPoint = null, long? onlyState = null, Func<Recording, Recording>? sabotage = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(recover);
        ArgumentNullException.ThrowIfNull(checkAgain);
        Recording recording;
        using (var inner = MemoryMedia.FromBytes(image))
        using (var recorded = new RecordingMedia(inner, ownsInner: false))
        {
            recover(recorded);
            recording = Recording.From(recorded);
        }
        if (sabotage is not null) recording = sabotage(recording);
        var points = CrashExplorer.CrashPoints(recording, 0);
        if (onlyPoint is { } wanted && (wanted < 0 || wanted >= points.Count))
            throw new CrashStateOutOfRangeException($"the recovery has crash points 0..{points.Count - 1}, not {wanted}");

        using var space = new CrashWorkspace(image.Length);
        space.Reset(image);
        SecondCrashFailure? failure = null;
        var counts = CrashStates.Walk(recording, points, image, space, rules, s =>
        {
            string? problem;
            try { problem = checkAgain(space.Media); }
            catch (Exception e) when (e is not OutOfMemoryException) { problem = $"checker stopped: {e.GetType().Name}: {e.Message}"; }
            if (problem is null) return true;
            failure = new SecondCrashFailure(s.Point, recording.Records.Length, s.State, problem, CrashStates.Describe(s.Lines, s.Choice));
            return false;
        }, onlyPoint, onlyState, "the recovery");
        return new SecondCrashResult(counts.States, points.Count, counts.PointsChecked, recording.Records.Length, failure);
    }
}
