using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Xunit.Abstractions;

namespace PmemFs.Mount.Tests;

/// <summary>
/// Layout leases through a real mount, with real processes (docs/leases.md): the C holder
/// (helpers/pmemfs_lease.c, only pmemfs.h) takes leases and pins and waits in poll() for the
/// recall; other processes truncate, punch and unlink. Times are printed (test output) so that
/// docs/leases.md can quote them.
/// </summary>
public sealed partial class LeaseTest(ITestOutputHelper output)
{
    private const int ETXTBSY = 26;


    private static MountedFileSystem Mount(string options)
    {
        LeaseHolder.SkipUnlessBuilt();
        return new MountedFileSystem(options: options);
    }

    private static void WriteFile(string path, int size) => File.WriteAllBytes(path, new byte[size]);

    private static long NowNs() => (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks * 100;

    /// <summary>`pmemfs lease list MOUNT --json`: the leases array.</summary>
    private static List<JsonElement> ListLeases(MountedFileSystem fs)
    {
        var r = Proc.Run(fs.Cli, ["lease", "list", fs.Path, "--json"]);
        Assert.True(r.Ok, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        return [.. doc.RootElement.GetProperty("leases").EnumerateArray().Select(e => e.Clone())];
    }

    private static void UnmountAndCheck(MountedFileSystem fs)
    {
        fs.Unmount();
        var fsck = fs.Fsck();
        Assert.True(fsck.Ok, fsck.ToString());
    }

    [SkippableFact]
    public void ATruncateOrPunchTouchingAPinnedLeaseFailsWithEtxtbsyAtOnceAndChangesNothing()
    {
        using var fs = Mount("dax=always,lease_break=30");
        WriteFile(fs["f"], 256 * 1024);
        using var holder = LeaseHolder.Hold(fs["f"], "write", "0", "end", "0", "4096");
        var sw = Stopwatch.StartNew();
        var r = Proc.Run("truncate", "-s", "4096", fs["f"]);
        var took = sw.Elapsed;
        Assert.False(r.Ok, r.ToString());
        Assert.Contains("Text file busy", r.Err, StringComparison.Ordinal);
        Assert.True(took < TimeSpan.FromSeconds(2), $"truncate(1) took {took}");
        output.WriteLine($"truncate(1) of a pinned file: ETXTBSY after {took.TotalMilliseconds:0} ms (process start included)");

        int fd = Native.Open(fs["f"], Native.O_RDWR);
        try
        {
            // Punching inside the pin, and outside it: another handle's pinned lease answers ETXTBSY either way.
            Assert.Equal(-1, Native.fallocate(fd, 3 /* PUNCH_HOLE | KEEP_SIZE */, 0, 4096));
            Assert.Equal(ETXTBSY, Native.Errno);
            Assert.Equal(-1, Native.fallocate(fd, 3, 128 * 1024, 4096));
            Assert.Equal(ETXTBSY, Native.Errno);
            Assert.Equal(-1, Native.ftruncate(fd, 0));
            Assert.Equal(ETXTBSY, Native.Errno);
        }
        finally { Native.close(fd); }
        Assert.Equal(256 * 1024, new FileInfo(fs["f"]).Length);
        // Nothing was recalled: the holder's poll() never woke.
        Assert.Null(holder.WaitFor(l => l.StartsWith("event", StringComparison.Ordinal), TimeSpan.FromMilliseconds(300)));

        var leases = ListLeases(fs);
        var lease = Assert.Single(leases);
        Assert.Equal(holder.Pid, lease.GetProperty("pid").GetInt32());
        Assert.Equal("pmemfs_lease", lease.GetProperty("command").GetString());
        Assert.Equal(fs["f"], lease.GetProperty("path").GetString());
        Assert.Equal("write", lease.GetProperty("mode").GetString());
        Assert.Equal("active", lease.GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, lease.GetProperty("length").ValueKind);
        var pin = Assert.Single(lease.GetProperty("pins").EnumerateArray());
        Assert.Equal(4096, pin.GetProperty("length").GetInt64());

        // pmemfs info FILE reports the same lease, in text and JSON.
        var info = Proc.Run(fs.Cli, "info", fs["f"]);
        Assert.True(info.Ok, info.ToString());
        Assert.Matches(@$"leases:\n  \d+: write 0-end active, pid {holder.Pid} \(pmemfs_lease\), pinned 0-4095", info.Out);
        var infoJson = Proc.Run(fs.Cli, "info", fs["f"], "--json");
        using (var doc = JsonDocument.Parse(infoJson.Out))
            Assert.Equal(holder.Pid, Assert.Single(doc.RootElement.GetProperty("leases").EnumerateArray()).GetProperty("pid").GetInt32());
        holder.Dispose();
        UnmountAndCheck(fs);
    }

    [SkippableFact]
    public async Task AnUnpinnedLeaseIsRecalledThenRevokedWithinTheBreakTimeWhileTheLoopAnswersOtherRequests()
    {
        const double BreakSeconds = 2;
        using var fs = Mount($"dax=always,lease_break={BreakSeconds.ToString(CultureInfo.InvariantCulture)}");
        WriteFile(fs["f"], 256 * 1024);
        WriteFile(fs["other"], 64 * 1024);
        Directory.CreateDirectory(fs["d"]);
        using var holder = LeaseHolder.Hold(fs["f"], "write", "0", "end");

        long startNs = NowNs();
        var sw = Stopwatch.StartNew();
        var truncating = Task.Run(() => Native.truncate(fs["f"], 4096) == 0 ? 0 : Marshal.GetLastPInvokeError());
        // While the truncate waits (the daemon's loop is single-threaded: threads=1), other
        // requests must be answered: stat, read, create, write, unlink.
        int answered = 0;
        var slowest = TimeSpan.Zero;
        var buffer = new byte[4096];
        while (!truncating.IsCompleted && sw.Elapsed < TimeSpan.FromSeconds(BreakSeconds + 10))
        {
            var one = Stopwatch.StartNew();
            _ = new FileInfo(fs["other"]).Length;
            using (var s = File.OpenRead(fs["other"])) s.ReadExactly(buffer);
            string name = fs[$"d/n{answered}"];
            File.WriteAllBytes(name, buffer);
            File.Delete(name);
            if (one.Elapsed > slowest) slowest = one.Elapsed;
            answered++;
        }
        int errno = await truncating;
        var took = sw.Elapsed;
        Assert.Equal(0, errno);
        Assert.Equal(4096, new FileInfo(fs["f"]).Length);

        var recalled = holder.WaitFor(l => l.StartsWith("event ", StringComparison.Ordinal) && l.Contains("recalled", StringComparison.Ordinal), TimeSpan.FromSeconds(5));
        Assert.True(recalled is not null, $"the holder's poll() never woke for the recall: {holder.Output}");
        var fields = recalled!.Split(' ');
        long wokeNs = long.Parse(fields[1], CultureInfo.InvariantCulture);
        double notifyMs = (wokeNs - startNs) / 1e6;
        // The daemon recalled at deadline - break time: from there to the holder's poll() returning.
        double sinceRecallMs = (wokeNs - (long.Parse(fields[4], CultureInfo.InvariantCulture) - (long)(BreakSeconds * 1e9))) / 1e6;
        var revoked = holder.WaitFor(l => l.Contains("revoked", StringComparison.Ordinal), TimeSpan.FromSeconds(5));
        Assert.True(revoked is not null, $"the holder was not told of the revocation: {holder.Output}");
        double revokedMs = (long.Parse(revoked!.Split(' ')[1], CultureInfo.InvariantCulture) - startNs) / 1e6;
        output.WriteLine($"recall seen by the holder's poll() {notifyMs:0.0} ms after truncate began ({sinceRecallMs:0.00} ms after the daemon recalled); revocation seen at {revokedMs:0} ms; "
            + $"truncate returned after {took.TotalMilliseconds:0} ms (break time {BreakSeconds} s); meanwhile {answered} rounds of stat+read+create+write+unlink answered, slowest {slowest.TotalMilliseconds:0.0} ms");

        Assert.InRange(notifyMs, 0, 1000);
        Assert.InRange(took.TotalSeconds, BreakSeconds - 0.1, BreakSeconds + 1.5);
        Assert.True(answered >= 20, $"only {answered} rounds answered while the truncate waited");
        Assert.True(slowest < TimeSpan.FromMilliseconds(500), $"a request waited {slowest} behind the recall");
        Assert.Empty(ListLeases(fs));
        holder.Dispose();
        UnmountAndCheck(fs);
    }

    [SkippableFact]
    public async Task AHolderThatReleasesOnRecallLetsTruncateAndUnlinkGoAheadLongBeforeTheBreakTime()
    {
        using var fs = Mount("dax=always,lease_break=30");
        WriteFile(fs["f"], 256 * 1024);
        WriteFile(fs["g"], 64 * 1024);
        using var holder = LeaseHolder.Hold("-R", fs["f"], "write", "0", "end");
        using var other = LeaseHolder.Hold("-R", "-r", fs["g"], "read", "0", "end");

        var sw = Stopwatch.StartNew();
        int errno = await Task.Run(() => Native.truncate(fs["f"], 0) == 0 ? 0 : Marshal.GetLastPInvokeError());
        var truncateTook = sw.Elapsed;
        Assert.Equal(0, errno);
        Assert.Equal(0, new FileInfo(fs["f"]).Length);
        Assert.NotNull(holder.WaitFor(l => l.StartsWith("released", StringComparison.Ordinal), TimeSpan.FromSeconds(5)));
        var fields = holder.Lines.First(l => l.StartsWith("event ", StringComparison.Ordinal)).Split(' ');
        // Recalled at deadline - 30 s: from there to the holder's poll() returning, with nothing else going on.
        double sinceRecallMs = (long.Parse(fields[1], CultureInfo.InvariantCulture) - (long.Parse(fields[4], CultureInfo.InvariantCulture) - 30_000_000_000L)) / 1e6;

        sw.Restart();
        await Task.Run(() => File.Delete(fs["g"])); // the last name of a leased file
        var unlinkTook = sw.Elapsed;
        Assert.False(File.Exists(fs["g"]));
        Assert.True(other.WaitFor(l => l.StartsWith("released", StringComparison.Ordinal), TimeSpan.FromSeconds(5)) is not null,
            $"unlink took {unlinkTook}; the holder: {other.Output}{fs.LogTail(10)}");
        fields = other.Lines.First(l => l.StartsWith("event ", StringComparison.Ordinal)).Split(' ');
        double warmMs = (long.Parse(fields[1], CultureInfo.InvariantCulture) - (long.Parse(fields[4], CultureInfo.InvariantCulture) - 30_000_000_000L)) / 1e6;
        output.WriteLine($"with a holder that releases on recall (break time 30 s): its poll() woke {sinceRecallMs:0.00} ms after the daemon's first recall, {warmMs:0.00} ms after the second; truncate returned after {truncateTook.TotalMilliseconds:0.0} ms, unlink after {unlinkTook.TotalMilliseconds:0.0} ms");
        Assert.True(truncateTook < TimeSpan.FromSeconds(3), $"truncate took {truncateTook}");
        Assert.True(unlinkTook < TimeSpan.FromSeconds(3), $"unlink took {unlinkTook}");
        Assert.Empty(ListLeases(fs));
        holder.Dispose();
        other.Dispose();
        UnmountAndCheck(fs);
    }

    [SkippableFact]
    public void KillingTheHolderEndsItsLeasesEvenWhenAChildKeepsItsOpenFile()
    {
        using var fs = Mount("dax=always,lease_break=30");
        WriteFile(fs["f"], 256 * 1024);
        WriteFile(fs["g"], 256 * 1024);
        using var plain = LeaseHolder.Hold(fs["g"], "write", "0", "end", "0", "4096");
        using var forked = LeaseHolder.Hold("-f", fs["f"], "write", "0", "end", "0", "4096");
        int child = ChildOf(forked.Pid);
        try
        {
            Assert.Equal(2, ListLeases(fs).Count);

            // The child still has the open file: no release comes; the pidfd watch must end it.
            forked.Kill();
            var forkedGone = WaitUntilNoLeaseOf(fs, forked.Pid);
            Assert.True(forkedGone is not null, $"the killed holder's lease is still listed: {string.Join(", ", ListLeases(fs))}");
            Assert.DoesNotContain(ListLeases(fs), l => l.GetProperty("pid").GetInt32() == forked.Pid);
            Assert.True(Directory.Exists($"/proc/{child}"), "the child holding the open file is gone too early for this test");

            plain.Kill();
            var plainGone = WaitUntilNoLeaseOf(fs, plain.Pid);
            Assert.True(plainGone is not null, "the killed holder's lease is still listed");
            output.WriteLine($"kill -9 of a holder: its lease gone within {forkedGone!.Value.TotalMilliseconds:0.0} ms while a child keeps the open file (pidfd), "
                + $"within {plainGone!.Value.TotalMilliseconds:0.0} ms when the kill closes it (FUSE release), from the kill to the first PMEMFS_IOC_LEASE_LIST without it");
            Assert.Empty(ListLeases(fs));
            // The pins died with the leases: a truncate goes ahead at once.
            Assert.Equal(0, Native.truncate(fs["f"], 0));
            Assert.Equal(0, Native.truncate(fs["g"], 0));
        }
        finally
        {
            if (child > 0) Native.kill(child, Native.SIGKILL);
        }
        Thread.Sleep(100);
        UnmountAndCheck(fs);
    }

    /// <summary>
    /// How long until the mount lists no lease of <paramref name="pid"/> (null: not within 10 s),
    /// asking PMEMFS_IOC_LEASE_LIST every millisecond (one `pmemfs lease list` run would cost more than the wait).
    /// </summary>
    private static TimeSpan? WaitUntilNoLeaseOf(MountedFileSystem fs, int pid)
    {
        int fd = Native.Open(fs.Path, Native.O_RDONLY | Native.O_DIRECTORY);
        try
        {
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed < TimeSpan.FromSeconds(10))
            {
                if (!LeaseIoctls.Rows(fd).Any(r => r.Item6 == pid)) return sw.Elapsed;
                Thread.Sleep(1);
            }
            return null;
        }
        finally { Native.close(fd); }
    }

    private static int ChildOf(int pid)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(5))
        {
            var children = File.ReadAllText($"/proc/{pid}/task/{pid}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (children.Length > 0) return int.Parse(children[0], CultureInfo.InvariantCulture);
            Thread.Sleep(10);
        }
        throw new InvalidOperationException($"the holder {pid} did not fork");
    }

    [SkippableFact]
    public async Task TheHoldersOwnDescriptorChangesItsLayoutWithoutARecallWhileClearingDaxRecallsTheOthers()
    {
        using var fs = Mount("lease_break=30");
        WriteFile(fs["f"], 256 * 1024);
        WriteFile(fs["g"], 256 * 1024);
        foreach (var name in new[] { "f", "g" })
        {
            var chattr = Proc.Run(fs.Cli, "chattr", "+dax", fs[name]); // DAX from the flag's last close on
            Assert.True(chattr.Ok, chattr.ToString());
        }
        int fd = Native.Open(fs["f"], Native.O_RDWR);
        try
        {
            var lease = new LeaseIoctls.Lease { Version = 1, Mode = 2, Offset = 0, Length = LeaseIoctls.ToEnd };
            Assert.Equal(0, LeaseIoctls.Call(fd, LeaseIoctls.Acquire_, ref lease));
            // ftruncate and fallocate through the lease's own descriptor: its own layout, no recall.
            var sw = Stopwatch.StartNew();
            Assert.Equal(0, Native.ftruncate(fd, 8192));
            Assert.Equal(0, Native.fallocate(fd, 3 /* PUNCH_HOLE | KEEP_SIZE */, 0, 4096));
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2), $"own changes took {sw.Elapsed}");
            var status = new LeaseIoctls.StatusArgs { Version = 1, LeaseId = lease.LeaseId };
            Assert.Equal(0, LeaseIoctls.Call(fd, LeaseIoctls.Status, ref status));
            Assert.Equal(1u, status.State); // still active
        }
        finally { Native.close(fd); }
        Assert.Empty(ListLeases(fs)); // ended with its descriptor

        // Clearing DAX of a file another process leased is a layout change: recalled, then done.
        using var holder = LeaseHolder.Hold("-R", fs["g"], "read", "0", "end");
        var cleared = await Task.Run(() => Proc.Run(fs.Cli, "chattr", "-dax", fs["g"]));
        Assert.True(cleared.Ok, cleared.ToString());
        Assert.NotNull(holder.WaitFor(l => l.StartsWith("released", StringComparison.Ordinal), TimeSpan.FromSeconds(5)));
        Assert.Empty(ListLeases(fs));
        holder.Dispose();
        UnmountAndCheck(fs);
    }

    [SkippableFact]
    public void OnlyTheOwnerOrCapLeaseMayTakeALeaseAsWithFSetlease()
    {
        Skip.If(Proc.Which("setpriv") is null, "setpriv (util-linux) is not installed");
        using var fs = Mount("dax=always");
        WriteFile(fs["roots"], 64 * 1024);
        WriteFile(fs["nobodys"], 64 * 1024);
        Assert.Equal(0, Native.chmod(fs["roots"], 0x1A4 /* 0644 */));
        Assert.Equal(0, Native.lchown(fs["nobodys"], 65534, 65534));
        // The helper where user 65534 may run it.
        string helper = System.IO.Path.Combine(fs.Root, "pmemfs_lease");
        File.Copy(LeaseHolder.Path!, helper);
        File.SetUnixFileMode(helper, (UnixFileMode)0x1ED /* 0755 */);
        string[] asNobody = ["--reuid", "65534", "--regid", "65534", "--clear-groups", "--inh-caps", "-all", helper, "hold", "-r"];

        // Readable, not owned: no lease (a pinned one would hold back root's truncate and unlink).
        var refused = Proc.Run("setpriv", [.. asNobody, fs["roots"], "read", "0", "end"], TimeSpan.FromSeconds(20));
        Assert.Contains("lease: EACCES", refused.Out, StringComparison.Ordinal);
        Assert.Empty(ListLeases(fs));

        // Its own file: granted (the holder waits for stdin, which Proc.Run closes at once).
        var granted = Proc.Run("setpriv", [.. asNobody, fs["nobodys"], "read", "0", "end"], TimeSpan.FromSeconds(20));
        Assert.Contains("ready", granted.Out, StringComparison.Ordinal);
        UnmountAndCheck(fs);
    }

    [SkippableFact]
    public void ANonDaxFileADirectoryAndAWrongDescriptorRefuseLeasesUntilTheFileIsDax()
    {
        using var fs = Mount("");
        WriteFile(fs["plain"], 64 * 1024);
        Directory.CreateDirectory(fs["dir"]);
        Assert.Equal("EOPNOTSUPP", LeaseHolder.Run("try", fs["plain"], "write", "0", "end"));
        Assert.Equal("EOPNOTSUPP", LeaseHolder.Run("try", fs["plain"], "read", "0", "4096"));
        // A write lease needs the file open for writing (checked before DAX).
        Assert.Contains("lease: EBADF", LeaseHolder.Run("hold", "-r", fs["plain"], "write", "0", "end"), StringComparison.Ordinal);
        Assert.Equal(Native.EINVAL, LeaseIoctls.Acquire(fs["dir"], Native.O_RDONLY, 2, 0, ulong.MaxValue, out _));

        var chattr = Proc.Run(fs.Cli, "chattr", "+dax", fs["plain"]);
        Assert.True(chattr.Ok, chattr.ToString());
        Assert.StartsWith("ok ", LeaseHolder.Run("try", fs["plain"], "write", "0", "end"), StringComparison.Ordinal);
        Assert.Empty(ListLeases(fs)); // "try" exited: its lease ended with its descriptor
        UnmountAndCheck(fs);
    }
}
