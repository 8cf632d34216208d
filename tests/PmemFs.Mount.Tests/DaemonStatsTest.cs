using System.Text.Json;

namespace PmemFs.Mount.Tests;

/// <summary>
/// PMEMFS_IOC_DAEMON_STATS through `pmemfs info MOUNT`: the daemon's garbage collections, their
/// pauses and its allocation; and, measured with it, that the hot paths allocate nothing in the
/// daemon, where a collection would pause every request in flight (issue 14).
/// </summary>
public class DaemonStatsTest
{
    private sealed record Stats(long Uptime, long Collections, long PauseTotal, long PauseMax, long Allocated);

    private static Stats Read(MountedFileSystem fs)
    {
        using var doc = JsonDocument.Parse(Proc.Check(fs.Cli, "info", fs.Path, "--json").Out);
        var d = doc.RootElement.GetProperty("daemon");
        return new Stats(
            d.GetProperty("uptimeNs").GetInt64(),
            d.GetProperty("gen0Collections").GetInt64() + d.GetProperty("gen1Collections").GetInt64() + d.GetProperty("gen2Collections").GetInt64(),
            d.GetProperty("gcPauseTotalNs").GetInt64(),
            d.GetProperty("gcPauseMaxNs").GetInt64(),
            d.GetProperty("allocatedBytes").GetInt64());
    }

    [SkippableFact]
    public void InfoOnAMountPointShowsTheDaemonsCollectionsAndPauses()
    {
        using var fs = new MountedFileSystem();
        var first = Read(fs);
        Assert.True(first.Uptime > 0, "uptime");
        // Make garbage in the daemon (names and inodes of created and deleted files) until it
        // collects at least once, so the pause counters have something to show.
        var second = first;
        for (int round = 0; round < 20 && second.Collections == first.Collections; round++)
        {
            for (int i = 0; i < 3000; i++) File.WriteAllText(fs[$"f{i}"], "x");
            for (int i = 0; i < 3000; i++) File.Delete(fs[$"f{i}"]);
            second = Read(fs);
        }
        Assert.True(second.Uptime > first.Uptime, "uptime grows");
        Assert.True(second.Allocated > first.Allocated, "creating and deleting files allocated nothing?");
        Assert.True(second.Collections > first.Collections, $"no collection in the daemon after 60,000 creates and deletes ({second.Allocated - first.Allocated} bytes allocated)");
        Assert.True(second.PauseTotal > first.PauseTotal, "collections without a pause");
        // The longest pause comes from the runtime's GC events, which the daemon receives on a
        // thread of their own a moment after the collection.
        for (int i = 0; i < 50 && second.PauseMax == 0; i++)
        {
            Thread.Sleep(100);
            second = Read(fs);
        }
        Assert.InRange(second.PauseMax, 1, second.PauseTotal);

        string text = Proc.Check(fs.Cli, "info", fs.Path).Out;
        Assert.Contains("daemon:", text);
        Assert.Matches(@"garbage collections:\s+\d+ \(gen0 \d+, gen1 \d+, gen2 \d+\)", text);
        Assert.Matches(@"GC pauses:\s+[\d.]+ ms in total, longest [\d.]+ ms", text);

        // A file is not a mount point: no daemon section.
        File.WriteAllText(fs["f"], "x");
        Assert.DoesNotContain("daemon:", Proc.Check(fs.Cli, "info", fs["f"]).Out, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void OverwritesStatsAndReadsAllocateNothingInTheDaemon()
    {
        using var fs = new MountedFileSystem();
        const int Size = 8 << 20, Writes = 20000, Files = 500;
        var block = new byte[4096];
        Random.Shared.NextBytes(block);
        using (var f = new FileStream(fs["data"], FileMode.CreateNew, FileAccess.Write))
            for (int off = 0; off < Size; off += block.Length) f.Write(block);
        for (int i = 0; i < Files; i++) File.WriteAllText(fs[$"n{i}"], "x");
        // Warm up every path once (first calls JIT-compile and fill caches).
        Overwrite(fs["data"], block, 200);
        StatAll(fs, Files);
        ReadAll(fs["data"]);

        var before = Read(fs);
        Overwrite(fs["data"], block, Writes);
        StatAll(fs, Files);
        ReadAll(fs["data"]);
        var after = Read(fs);
        // The counter is per-thread allocation contexts, so it moves in steps of a few KiB, and
        // the two `pmemfs info` calls open the mount point. 96 bytes per write (a closure made at
        // the entry of Write) were 1.9 MB here.
        long allocated = after.Allocated - before.Allocated;
        Assert.True(allocated < 64 * 1024,
            $"{Writes} overwrites, {Files} cold stats and a cold read of {Size >> 20} MiB allocated {allocated} bytes in the daemon ({(double)allocated / Writes:0.0} per write)");
    }

    private static void Overwrite(string path, byte[] block, int count)
    {
        using var h = File.OpenHandle(path, FileMode.Open, FileAccess.Write);
        long blocks = RandomAccess.GetLength(h) / block.Length;
        var rng = new Random(7);
        for (int i = 0; i < count; i++) RandomAccess.Write(h, block, rng.NextInt64(blocks) * block.Length);
    }

    private static void StatAll(MountedFileSystem fs, int files)
    {
        File.WriteAllText("/proc/sys/vm/drop_caches", "2"); // forget dentries and inodes: each stat is a LOOKUP
        for (int i = 0; i < files; i++) Assert.Equal(1, new FileInfo(fs[$"n{i}"]).Length);
    }

    private static void ReadAll(string path)
    {
        File.WriteAllText("/proc/sys/vm/drop_caches", "1"); // and the page cache: the reads reach the daemon
        var buffer = new byte[1 << 20];
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
        while (f.Read(buffer) > 0) { }
    }
}
