using System.Diagnostics;
using PmemFs.Direct;
using Xunit.Abstractions;

namespace PmemFs.Mount.Tests;

/// <summary>
/// MAP_SYNC's contract through the client library under kill -9 of the daemon: a holder grows a
/// file with prepare-write, stores into the region directly and persists, with no fsync, msync or
/// write(2) anywhere; the daemon is killed at a random moment; after cleaning the dead mount fsck
/// is clean, and after a remount the file has every byte whose store (and persist) returned, and
/// the size of every prepare-write that returned. The store or prepare in flight may or may not
/// be there. Stores that land after the kill, before the library notices the dead mount, returned
/// too and must be there as well. PMEMFS_DIRECT_KILL_SEED / PMEMFS_DIRECT_KILL_ROUNDS for longer runs.
/// </summary>
public class DirectKillTest(ITestOutputHelper output)
{
    private const int CiSeed = 11, CiRounds = 4;

    /// <summary>The holder's view: what returned, and the one operation that had not.</summary>
    private sealed class Holder
    {
        public byte[] Model = [];
        public long Size;
        public (long Offset, byte[] Old, byte[] New)? StoreInFlight;
        public long? PrepareInFlightEnd;
        public int Prepares, Stores, StoresAfterKill;
        public volatile bool Killed;
        public Exception? Ended;
    }

    [SkippableFact]
    public void EveryStoreWhosePersistReturnedSurvivesKillMinus9OfTheDaemon()
    {
        using var fs = new MountedFileSystem("128M");
        int seed = int.TryParse(Environment.GetEnvironmentVariable("PMEMFS_DIRECT_KILL_SEED"), out int s) ? s : CiSeed;
        int rounds = int.TryParse(Environment.GetEnvironmentVariable("PMEMFS_DIRECT_KILL_ROUNDS"), out int r) && r > 0 ? r : CiRounds;
        output.WriteLine($"seed {seed} (PMEMFS_DIRECT_KILL_SEED), {rounds} rounds (PMEMFS_DIRECT_KILL_ROUNDS)");
        var rng = new Random(seed);
        string path = fs["log"];
        File.WriteAllBytes(path, []);
        Proc.Check(fs.Cli, "chattr", "+dax", path);
        byte[] state = [];

        for (int round = 0; round < rounds; round++)
        {
            var h = new Holder { Model = [.. state], Size = state.Length };

            var holderRng = new Random(rng.Next());
            var thread = new Thread(() => Run(path, h, holderRng)) { IsBackground = true, Name = $"direct holder {round}" };
            int delayMs = rng.Next(200, 900);
            var sw = Stopwatch.StartNew();
            thread.Start();
            Thread.Sleep(delayMs);
            Assert.True(h.Ended is null, $"round {round}: the holder failed before the kill: {h.Ended}{fs.LogTail()}");
            h.Killed = true;
            int pid = fs.KillDaemon();
            Assert.True(thread.Join(TimeSpan.FromSeconds(30)), $"round {round}: the holder is still running 30 s after kill -9 of daemon {pid}");
            Assert.True(h.Ended is DirectAccessException, $"round {round}: the holder ended with {h.Ended?.GetType().Name}: {h.Ended}");

            fs.CleanDeadMount();
            string where = $"seed {seed}, round {round}, killed after {delayMs} ms";
            var fsck = fs.Fsck();
            Assert.True(fsck.ExitCode == 0, $"fsck after kill -9 is not clean ({where}):\n{fsck}{fs.LogTail()}");
            fs.Mount();
            var actual = File.ReadAllBytes(path);
            string? problem = Compare(h, actual);
            Assert.True(problem is null, $"after kill -9 and remount ({where}): {problem}");
            Assert.True(h.Stores >= 10, $"round {round}: only {h.Stores} stores returned in {delayMs} ms");
            output.WriteLine($"round {round}: killed daemon {pid} after {delayMs} ms; {h.Prepares} prepares and {h.Stores} stores returned ({h.StoresAfterKill} after the kill, before the library saw it); "
                + $"in flight: {(h.StoreInFlight is { } st ? $"a store of {st.New.Length} bytes at {st.Offset}" : h.PrepareInFlightEnd is { } pe ? $"a prepare to {pe}" : "nothing")}; "
                + $"ended with: {h.Ended!.Message}; size {actual.Length}; {sw.Elapsed.TotalSeconds:0.0} s");
            state = actual;
        }
        fs.Unmount();
        var end = fs.Fsck();
        Assert.True(end.ExitCode == 0, "fsck after the last round is not clean:\n" + end);
    }

    /// <summary>The file after the remount against what returned: every returned byte, the size of every returned prepare.</summary>
    private static string? Compare(Holder h, byte[] actual)
    {
        long minSize = h.Size, maxSize = h.PrepareInFlightEnd ?? h.Size;
        if (actual.Length < minSize || actual.Length > maxSize)
            return $"size {actual.Length}, expected {minSize}{(maxSize != minSize ? $" to {maxSize}" : "")}";
        for (long i = 0; i < minSize; i++)
        {
            if (actual[i] == h.Model[i]) continue;
            if (h.StoreInFlight is { } st && i >= st.Offset && i < st.Offset + st.New.Length && actual[i] == st.New[i - st.Offset]) continue;
            return $"byte {i} is 0x{actual[i]:x2}, expected 0x{h.Model[i]:x2} (a store that returned is lost or another file's bytes show)";
        }
        for (long i = h.Size; i < actual.Length; i++)
            if (actual[i] != 0) return $"byte {i}, past the last returned prepare, is 0x{actual[i]:x2}, not zero";
        return null;
    }

    /// <summary>Grows the file by prepare-write and overwrites it by direct stores until the library refuses (the kill).</summary>
    private static unsafe void Run(string path, Holder h, Random rng)
    {
        var maps = new List<DirectMapping>();
        DirectFile? file = null;
        Lease? lease = null;
        try
        {
            file = DirectFile.Open(path);
            lease = file.AcquireLease(LeaseMode.Write);
            if (h.Size > 0) maps.Add(lease.MapForWrite(0, h.Size));
            for (;;)
            {
                bool killed = h.Killed;
                if (h.Size == 0 || rng.Next(10) < 3)
                {
                    long grow = rng.Next(1, 33) * 4096L;
                    h.PrepareInFlightEnd = h.Size + grow;
                    var m = lease.MapForWrite(h.Size, grow, extendSize: true);
                    maps.Add(m);
                    if (h.Model.Length < h.Size + grow) Array.Resize(ref h.Model, (int)Math.Max(h.Size + grow, h.Model.Length * 2L));
                    h.Size += grow;
                    h.PrepareInFlightEnd = null;
                    h.Prepares++;
                }
                else
                {
                    var m = maps[rng.Next(maps.Count)];
                    int len = (int)Math.Min(m.Length, rng.Next(1, 64 * 1024));
                    long at = rng.NextInt64(0, m.Length - len + 1);
                    var data = new byte[len];
                    rng.NextBytes(data);
                    long fileAt = m.FileOffset + at;
                    h.StoreInFlight = (fileAt, h.Model.AsSpan((int)fileAt, len).ToArray(), data);
                    if (rng.Next(2) == 0) m.Store(at, data);
                    else
                    {
                        // Raw stores through the pointer, then persist: the way most code will use it.
                        data.CopyTo(m.GetSpan(at, len));
                        m.Persist(at, len);
                    }
                    data.CopyTo(h.Model, fileAt);
                    h.StoreInFlight = null;
                    h.Stores++;
                    if (killed) h.StoresAfterKill++;
                }
            }
        }
        catch (Exception e) { h.Ended = e; }
        finally
        {
            foreach (var m in maps) m.Dispose();
            lease?.Dispose();
            file?.Dispose();
        }
    }
}
