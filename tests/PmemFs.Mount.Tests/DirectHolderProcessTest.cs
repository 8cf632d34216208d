using System.Diagnostics;
using System.Text.Json;
using Xunit.Abstractions;

namespace PmemFs.Mount.Tests;

/// <summary>
/// Leases held by a separate holder process written with the client library
/// (tests/PmemFs.Direct.Holder), against other processes: truncate(1) meets ETXTBSY at once on a
/// pin; a recall reaches the holder, which gives the lease back, and the truncate goes ahead long
/// before the break time while the mount answers others; kill -9 of the holder ends its lease.
/// </summary>
public sealed class DirectHolderProcessTest(ITestOutputHelper output)
{
    private static string DaxFile(MountedFileSystem fs, string name)
    {
        string path = fs[name];
        File.WriteAllBytes(path, []);
        Proc.Check(fs.Cli, "chattr", "+dax", path);
        return path;
    }

    private static List<JsonElement> Leases(MountedFileSystem fs)
    {
        var r = Proc.Check(fs.Cli, "lease", "list", fs.Path, "--json");
        using var doc = JsonDocument.Parse(r.Out);
        return [.. doc.RootElement.GetProperty("leases").EnumerateArray().Select(e => e.Clone())];
    }

    private static byte Pattern(long i) => (byte)(i * 7 + 1);

    [SkippableFact]
    public void APinnedHoldersFileRefusesTruncateAtOnceAndKillingTheHolderEndsItsLease()
    {
        using var fs = new MountedFileSystem("64M", options: "lease_break=30");
        string path = DaxFile(fs, "f");
        using var holder = LeaseHolder.DirectHolder(path, (1 << 20).ToString(), "--pin", "0", "4096");
        var data = File.ReadAllBytes(path);
        Assert.Equal(1 << 20, data.Length);
        Assert.True(Enumerable.Range(0, data.Length).All(i => data[i] == Pattern(i)), "the holder's direct stores read back through the mount");

        var leases = Leases(fs);
        var lease = Assert.Single(leases);
        Assert.Equal(holder.Pid, lease.GetProperty("pid").GetInt32());
        Assert.Equal(1, lease.GetProperty("pins").GetArrayLength());

        var sw = Stopwatch.StartNew();
        var r = Proc.Run("truncate", "-s", "4096", path);
        Assert.False(r.Ok, r.ToString());
        Assert.Contains("Text file busy", r.Err, StringComparison.Ordinal);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"truncate(1) took {sw.Elapsed}");
        Assert.Equal(1 << 20, new FileInfo(path).Length);

        holder.Kill();
        sw.Restart();
        while (Leases(fs).Count > 0 && sw.Elapsed < TimeSpan.FromSeconds(5)) Thread.Sleep(20);
        Assert.Empty(Leases(fs));
        output.WriteLine($"lease gone {sw.ElapsedMilliseconds} ms after kill -9 of the holder");
        Proc.Check("truncate", "-s", "4096", path);
        Assert.Equal(4096, new FileInfo(path).Length);
    }

    [SkippableFact]
    public async Task ARecallReachesTheHolderProcessWhichGivesTheLeaseBackAndTheTruncateGoesAhead()
    {
        using var fs = new MountedFileSystem("64M", options: "lease_break=20");
        string path = DaxFile(fs, "f");
        File.WriteAllText(fs["other"], "other");
        using var holder = LeaseHolder.DirectHolder(path, (2 << 20).ToString(), "--release-on-recall");
        holder.Send("store 4096 4096 9");
        Assert.NotNull(holder.WaitFor(l => l == "stored", TimeSpan.FromSeconds(10)));

        var sw = Stopwatch.StartNew();
        var truncate = Task.Run(() => Proc.Run("truncate", "-s", "8192", path));
        var recalled = holder.WaitFor(l => l.StartsWith("recalled ", StringComparison.Ordinal), TimeSpan.FromSeconds(10));
        Assert.NotNull(recalled);
        long recallMs = sw.ElapsedMilliseconds;
        // Meanwhile the mount answers others.
        Assert.Equal("other", File.ReadAllText(fs["other"]));
        var r = await truncate.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.True(r.Ok, r.ToString());
        Assert.NotNull(holder.WaitFor(l => l == "released", TimeSpan.FromSeconds(5)));
        output.WriteLine($"holder saw the recall after {recallMs} ms ({recalled}); truncate(1) returned after {sw.ElapsedMilliseconds} ms (break time 20 s)");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"truncate waited {sw.Elapsed} although the holder gave the lease back");
        var data = File.ReadAllBytes(path);
        Assert.Equal(8192, data.Length);
        Assert.True(data.AsSpan(4096).IndexOfAnyExcept((byte)9) < 0, "the store through the library before the recall is there");
        Assert.Empty(Leases(fs));
        // Its mapping is gone: a store now fails in the holder instead of reaching freed blocks.
        holder.Send("store 0 16 5");
        var after = holder.WaitFor(l => l.StartsWith("stored", StringComparison.Ordinal) || l.StartsWith("error ", StringComparison.Ordinal), TimeSpan.FromSeconds(5));
        Assert.StartsWith("error ", after, StringComparison.Ordinal);
        holder.Dispose(); // its open file would keep the mount busy
        fs.Unmount();
        var fsck = fs.Fsck();
        Assert.True(fsck.Ok, fsck.ToString());
    }
}
