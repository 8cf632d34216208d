using System.Diagnostics;
using System.Runtime.InteropServices;
using PmemFs.Direct;
using Xunit.Abstractions;

namespace PmemFs.Mount.Tests;

/// <summary>
/// The client library (src/PmemFs.Direct) used as an application uses it, against a real mount:
/// a holder maps a file straight from the region and stores with no system call; readers through
/// the mount see the stores (docs/direct.md, "Coherence with the mount"); other processes'
/// truncates meet ETXTBSY on a pin, or a recall that the library reports and, if the holder
/// ignores it, cuts the holder off before the daemon's deadline.
/// </summary>
public sealed partial class DirectLibraryTest(ITestOutputHelper output)
{
    private const int ETXTBSY = 26;


    private static string DaxFile(MountedFileSystem fs, string name, int size = 0)
    {
        string path = fs[name];
        File.WriteAllBytes(path, []);
        Proc.Check(fs.Cli, "chattr", "+dax", path);
        if (size > 0) File.WriteAllBytes(path, new byte[size]);
        return path;
    }

    private static byte[] Random(int size, int seed)
    {
        var b = new byte[size];
        new Random(seed).NextBytes(b);
        return b;
    }

    [SkippableFact]
    public unsafe void AHolderMapsAFileFromTheRegionStoresAndPersistsAndTheBytesAreTheFilesAlsoAfterARemount()
    {
        using var fs = new MountedFileSystem("64M");
        string path = DaxFile(fs, "direct");
        const int size = 5 << 20; // several 2 MiB extents
        var data = Random(size, 1);
        using (var file = DirectFile.Open(path))
        {
            Assert.Equal(fs.Image, file.Region.Path);
            Assert.False(file.Region.IsDeviceDax);
            // An image in /dev/shm: the daemon maps it with cache-line flushes, and so does the client.
            Assert.Equal(StoreGranularity.CacheLine, file.Region.DaemonGranularity);
            Assert.Equal(StoreGranularity.CacheLine, file.Region.Granularity);
            using var lease = file.AcquireLease(LeaseMode.Write);
            using var map = lease.MapForWrite(0, size, extendSize: true);
            Assert.Equal(size, file.Size);
            output.WriteLine($"{size} bytes in {map.Pieces} piece(s) of the region");
            // Half through the checked call (copy + persist), half through the pointer + Persist.
            map.Store(0, data.AsSpan(0, size / 2));
            data.AsSpan(size / 2).CopyTo(new Span<byte>(map.Pointer + size / 2, size / 2));
            map.Persist(size / 2, size / 2);
            var back = new byte[4096];
            map.Load(size - 4096, back);
            Assert.Equal(data.AsSpan(size - 4096).ToArray(), back);
        }
        Assert.Equal(data, File.ReadAllBytes(path));
        fs.Remount();
        Assert.Equal(data, File.ReadAllBytes(path));
        fs.Unmount();
        var fsck = fs.Fsck();
        Assert.True(fsck.Ok, fsck.ToString());
    }

    [SkippableFact]
    public void AReadLeaseMapsWrittenDataAndHolesAsZerosAndAWriteMappingNeedsAWriteLease()
    {
        using var fs = new MountedFileSystem("64M");
        string path = DaxFile(fs, "sparse");
        var head = Random(8192, 2);
        using (var f = File.OpenWrite(path))
        {
            f.Write(head);
            f.SetLength(64 * 1024); // the rest is a hole
        }
        using var file = DirectFile.Open(path, writable: false);
        using var lease = file.AcquireLease(LeaseMode.Read);
        Assert.Throws<InvalidOperationException>(() => lease.MapForWrite(0, 4096));
        using var map = lease.MapForRead(0, 64 * 1024);
        Assert.False(map.Writable);
        var all = new byte[64 * 1024];
        map.Load(0, all);
        Assert.Equal(head, all.AsSpan(0, 8192).ToArray());
        Assert.True(all.AsSpan(8192).IndexOfAnyExcept((byte)0) < 0, "the hole reads as zeros");
        Assert.Throws<InvalidOperationException>(() => map.Store(0, head));
    }

    /// <summary>
    /// What a reader through the mount sees (docs/direct.md): a descriptor that already cached the
    /// pages sees the direct stores after the holder publishes the range (prepare-write of a
    /// written range drops the kernel's pages) or gives the lease back; a new open sees them at once.
    /// </summary>
    [SkippableFact]
    public void ReadersThroughTheMountSeeDirectStoresAfterPublishAfterTheLeaseEndsAndOnANewOpen()
    {
        using var fs = new MountedFileSystem("64M");
        const int size = 256 * 1024;
        string path = DaxFile(fs, "shared", size);
        using var reader = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
        byte[] ReadAll()
        {
            var b = new byte[size];
            reader.Position = 0;
            reader.ReadExactly(b);
            return b;
        }
        using var file = DirectFile.Open(path);
        var lease = file.AcquireLease(LeaseMode.Write);
        var map = lease.MapForWrite(0, size);
        Assert.Equal(new byte[size], ReadAll()); // the kernel caches the zeros now

        var first = Random(size, 3);
        map.Store(0, first);
        bool stale = !ReadAll().AsSpan().SequenceEqual(first);
        output.WriteLine($"before publish, the open reader sees {(stale ? "its cached pages" : "the stores")}");
        map.Publish(0, size);
        Assert.Equal(first, ReadAll());

        var second = Random(size, 4);
        map.Store(0, second);
        output.WriteLine($"before the lease ends, the open reader sees {(ReadAll().AsSpan().SequenceEqual(second) ? "the stores" : "its cached pages")}");
        lease.Dispose(); // gives it back: the daemon drops the file's pages
        Assert.False(map.IsValid);
        Assert.Throws<LeaseRevokedException>(() => map.Store(0, second));
        Assert.Equal(second, ReadAll());
        map.Dispose();

        // A new open drops what the kernel cached (no FOPEN_KEEP_CACHE): no publish needed.
        using var again = file.AcquireLease(LeaseMode.Write);
        using var map2 = again.MapForWrite(0, size);
        Assert.Equal(second, ReadAll());
        var third = Random(size, 5);
        map2.Store(0, third);
        Assert.Equal(third, File.ReadAllBytes(path));
        Assert.Equal(third, ReadAll());
    }

    [SkippableFact]
    public async Task APinFailsATruncateWithEtxtbsyAtOnceAndARecallTellsTheHolderWhoseReleaseLetsItGoAhead()
    {
        using var fs = new MountedFileSystem("64M", options: "lease_break=20");
        string path = DaxFile(fs, "f", 1 << 20);
        using var file = DirectFile.Open(path);
        var lease = file.AcquireLease(LeaseMode.Write);
        using (var pin = lease.Pin(0, 4096))
        {
            var r = Proc.Run("truncate", "-s", "4096", path);
            Assert.False(r.Ok, r.ToString());
            Assert.Contains("Text file busy", r.Err, StringComparison.Ordinal);
            Assert.Equal(1 << 20, new FileInfo(path).Length);
        }

        var map = lease.MapForWrite(0, 1 << 20);
        var recalled = new TaskCompletionSource<LeaseRecalledEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        lease.Recalled += (_, e) =>
        {
            recalled.TrySetResult(e);
            e.Lease.Dispose(); // what a well-behaved holder does: stop, give it back
        };
        var sw = Stopwatch.StartNew();
        var truncating = Task.Run(() => Native.truncate(path, 4096) == 0 ? 0 : Marshal.GetLastPInvokeError());
        var e = await recalled.Task.WaitAsync(TimeSpan.FromSeconds(10));
        output.WriteLine($"recall seen after {sw.ElapsedMilliseconds} ms; deadline in {(e.Deadline - DateTimeOffset.UtcNow).TotalSeconds:0.0} s");
        // The loop answers others meanwhile.
        Assert.True(File.Exists(path));
        Assert.Equal(0, await truncating.WaitAsync(TimeSpan.FromSeconds(10)));
        output.WriteLine($"truncate returned after {sw.ElapsedMilliseconds} ms (break time 20 s)");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"the truncate waited {sw.Elapsed} although the holder gave the lease back");
        Assert.Equal(4096, new FileInfo(path).Length);
        Assert.False(map.IsValid);
        Assert.Equal(LeaseState.Released, lease.State);
        map.Dispose();
    }

    [SkippableFact]
    public async Task AHolderThatIgnoresARecallIsCutOffBeforeTheDeadlineAndTheTruncateGoesAhead()
    {
        using var fs = new MountedFileSystem("64M", options: "lease_break=2");
        string path = DaxFile(fs, "f", 1 << 20);
        using var file = DirectFile.Open(path);
        var lease = file.AcquireLease(LeaseMode.Write);
        using var map = lease.MapForWrite(0, 1 << 20);
        var revoked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lease.Revoked += (_, _) => revoked.TrySetResult();
        var sw = Stopwatch.StartNew();
        var truncating = Task.Run(() => Native.truncate(path, 0) == 0 ? 0 : Marshal.GetLastPInvokeError());
        await revoked.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var cutOff = sw.Elapsed;
        Assert.True(lease.RecallToken.IsCancellationRequested);
        Assert.False(map.IsValid);
        var e = Assert.Throws<LeaseRevokedException>(() => map.Store(0, new byte[16]));
        output.WriteLine($"cut off after {cutOff.TotalMilliseconds:0} ms: {e.Message}");
        Assert.Equal(0, await truncating.WaitAsync(TimeSpan.FromSeconds(10)));
        output.WriteLine($"truncate returned after {sw.ElapsedMilliseconds} ms (break time 2 s)");
        Assert.True(cutOff < TimeSpan.FromSeconds(2), $"the library cut the holder off after {cutOff}, not before the 2 s deadline");
        Assert.Equal(0, new FileInfo(path).Length);
        Assert.Empty(file.Leases);
    }

    /// <summary>
    /// A large prepare-write (zeroing hundreds of MiB) runs off the FUSE loop: the mount keeps
    /// answering other processes' requests meanwhile (with threads=1, the default).
    /// </summary>
    [SkippableFact]
    public async Task TheMountAnswersOthersWhileALargePrepareWriteZeroes()
    {
        using var fs = new MountedFileSystem("1G");
        string path = DaxFile(fs, "big");
        File.WriteAllText(fs["other"], "other");
        using var file = DirectFile.Open(path);
        using var lease = file.AcquireLease(LeaseMode.Write);
        var sw = Stopwatch.StartNew();
        var preparing = Task.Run(() => lease.MapForWrite(0, 512L << 20, extendSize: true));
        int answered = 0;
        while (!preparing.IsCompleted)
        {
            Assert.Equal("other", File.ReadAllText(fs["other"]));
            if (!preparing.IsCompleted) answered++;
        }
        using var map = await preparing;
        output.WriteLine($"512 MiB prepared in {sw.ElapsedMilliseconds} ms; {answered} reads of another file answered meanwhile");
        // One or two reads may slip in before the prepare reaches the daemon; on the loop it would stop the rest.
        Assert.True(answered >= 10, $"only {answered} other requests were answered while the prepare-write ran");
        Assert.Equal(512L << 20, file.Size);
    }

    [SkippableFact]
    public void ANonDaxFileAndAConflictingLeaseAreRefusedWithClearErrors()
    {
        using var fs = new MountedFileSystem("64M");
        File.WriteAllBytes(fs["plain"], new byte[4096]);
        using (var plain = DirectFile.Open(fs["plain"]))
        {
            var e = Assert.Throws<DirectAccessException>(() => plain.AcquireLease(LeaseMode.Read));
            Assert.Equal(95, e.Errno);
            Assert.Contains("chattr +dax", e.Message, StringComparison.Ordinal);
        }
        string path = DaxFile(fs, "f", 4096);
        using var one = DirectFile.Open(path);
        using var two = DirectFile.Open(path);
        using var held = one.AcquireLease(LeaseMode.Write);
        var conflict = Assert.Throws<DirectAccessException>(() => two.AcquireLease(LeaseMode.Read));
        Assert.Equal(11, conflict.Errno);
        Assert.Throws<ArgumentOutOfRangeException>(() => held.MapForWrite(0, 0));
        var past = Assert.Throws<DirectAccessException>(() => held.MapForWrite(0, 1 << 20));
        Assert.Equal(6, past.Errno); // ENXIO: past EOF without extendSize
    }

    /// <summary>The region is the trust boundary: a user who may open the file but not the region gets no mapping.</summary>
    [SkippableFact]
    public void AUserWithoutAccessToTheRegionCannotMapIt()
    {
        LeaseHolder.SkipUnlessBuilt();
        Skip.If(Proc.Which("setpriv") is null, "setpriv (util-linux) is missing");
        using var fs = new MountedFileSystem("64M");
        string path = DaxFile(fs, "f", 4096);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var asRoot = Proc.Check(LeaseHolder.Path!, "region", path).Out;
        Assert.Contains($"region {fs.Image} kind file", asRoot, StringComparison.Ordinal);
        Assert.Contains("region open ok", asRoot, StringComparison.Ordinal);
        Assert.Contains("uuid ok", asRoot, StringComparison.Ordinal);
        var asNobody = Proc.Run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", LeaseHolder.Path!, "region", path]);
        Assert.True(asNobody.Ok, asNobody.ToString());
        Assert.Contains($"region {fs.Image}", asNobody.Out, StringComparison.Ordinal);
        Assert.Contains("region open EACCES", asNobody.Out, StringComparison.Ordinal);
    }
}
