using System.Diagnostics;
using System.Text;
using Xunit.Abstractions;

namespace PmemFs.Mount.Tests;

/// <summary>
/// kill -9 of the daemon in the middle of a workload: after cleaning the dead mount, fsck is
/// clean, and after a remount every operation whose syscall had returned is there (the one in
/// flight may or may not be). A few rounds on one image, each continuing from what the last
/// one left. PMEMFS_KILL_SEED picks another run by hand, PMEMFS_KILL_ROUNDS a longer one (with
/// PMEMFS_TEST_WATCHDOG_MINUTES above its duration: about 2 s a round).
/// </summary>
public class KillTest(ITestOutputHelper output)
{
    private const int CiSeed = 7;
    private const int CiRounds = 3;
    private const int Workers = 2;
    private static readonly string[] Dirs = ["", "d0", "d1"];

    /// <summary>One workload operation: what it is and what it does to a model (name → content).</summary>
    private sealed record Op(string Text, Action<Dictionary<string, byte[]>> Apply)
    {
        /// <summary>For a pwrite: the path, offset and bytes (a killed pwrite may land partly).</summary>
        public (string Path, long Offset, byte[] Data)? Write { get; init; }
    }

    /// <summary>The state shared by the workload thread and the test.</summary>
    private sealed class Workload(string prefix)
    {
        public readonly string Prefix = prefix;
        public readonly Dictionary<string, byte[]> Completed = new(StringComparer.Ordinal);
        public readonly List<string> Done = [];
        public readonly List<int> Held = [];
        public Op? InFlight;
        public Exception? Error;
        public int ErrorErrno;
        public volatile bool ShortWrite;
        public volatile bool Stop;
    }

    [SkippableFact]
    public void KilledDaemonLosesNothingThatReturned()
    {
        using var fs = new MountedFileSystem();
        int seed = int.TryParse(Environment.GetEnvironmentVariable("PMEMFS_KILL_SEED"), out int s) ? s : CiSeed;
        int rounds = int.TryParse(Environment.GetEnvironmentVariable("PMEMFS_KILL_ROUNDS"), out int r) && r > 0 ? r : CiRounds;
        output.WriteLine($"kill test: seed {seed} (PMEMFS_KILL_SEED), {rounds} rounds (PMEMFS_KILL_ROUNDS), {Workers} workers");
        var rng = new Random(seed);
        for (int t = 0; t < Workers; t++)
            foreach (var d in Dirs) Directory.CreateDirectory(fs[$"w{t}/{d}"]);
        var state = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var unmountProblems = new List<string>();
        var fsckProblems = new List<string>();

        for (int round = 0; round < rounds; round++)
        {
            var sw = Stopwatch.StartNew();
            var workers = Enumerable.Range(0, Workers).Select(t => new Workload($"w{t}/")).ToList();
            foreach (var w in workers)
                foreach (var (k, v) in state.Where(kv => kv.Key.StartsWith(w.Prefix, StringComparison.Ordinal))) w.Completed[k] = v;
            var threads = workers.Select((w, t) =>
            {
                var r = new Random(rng.Next());
                return new Thread(() => Run(fs.Path, w, r)) { IsBackground = true, Name = $"workload {round}.{t}" };
            }).ToList();
            int delayMs = rng.Next(300, 1500);
            foreach (var th in threads) th.Start();
            Thread.Sleep(delayMs);
            foreach (var w in workers)
                Assert.True(w.Error is null, $"round {round}: a workload failed before the kill:\n{w.Error}\n{Tail(w)}{fs.LogTail()}");
            int pid = fs.KillDaemon();
            foreach (var (th, w) in threads.Zip(workers))
            {
                if (!th.Join(TimeSpan.FromSeconds(30)))
                {
                    foreach (var x in workers) x.Stop = true;
                    fs.CleanDeadMount();
                    Assert.Fail($"round {round}: a workload is still blocked 30 s after kill -9 of daemon {pid}\n{Tail(w)}");
                }
                // EFAULT: MADV_POPULATE_WRITE's word for "this fault would have been a SIGBUS".
                Assert.True(w.ErrorErrno is Native.ENOTCONN or Native.EIO or Native.ECONNABORTED or Native.EFAULT || w.ShortWrite,
                    $"round {round}: after the kill a workload failed with errno {w.ErrorErrno}, expected ENOTCONN or EIO:\n{w.Error}");
            }

            var clean = fs.CleanDeadMount();
            if (!clean.Ok) unmountProblems.Add($"round {round}: pmemfs unmount of the dead mount failed (umount -l cleaned it):\n{clean}");
            Assert.False(fs.IsMounted, $"round {round}: {fs.Path} still mounted after cleaning the dead mount");
            string where = $"seed {seed}, round {round}, killed after {delayMs} ms";
            var fsck = fs.Fsck();
            // Collected and asserted after the last round, so that every round's data checks still run.
            if (fsck.ExitCode != 0) fsckProblems.Add($"fsck after kill -9 is not clean ({where}):\n{fsck}\n{string.Concat(workers.Select(Tail))}{fs.LogTail()}");
            fs.Mount();
            var actual = ReadTree(fs.Path);
            foreach (var w in workers)
            {
                var mine = actual.Where(kv => kv.Key.StartsWith(w.Prefix, StringComparison.Ordinal)).ToDictionary(StringComparer.Ordinal);
                string? problem = Compare(w.Completed, w.InFlight, mine);
                Assert.True(problem is null, $"after kill -9 and remount ({where}, {w.Done.Count} ops done by {w.Prefix}): {problem}\n{Tail(w)}{History(w, problem)}{fs.LogTail()}");
                Assert.True(w.Done.Count >= 10, $"round {round}: only {w.Done.Count} operations completed before the kill after {delayMs} ms\n{Tail(w)}");
            }
            Assert.Equal(actual.Count, workers.Sum(w => actual.Keys.Count(k => k.StartsWith(w.Prefix, StringComparison.Ordinal))));
            output.WriteLine($"round {round}: killed daemon {pid} after {delayMs} ms; "
                + string.Join("; ", workers.Select(w => $"{w.Prefix}: {w.Done.Count} ops done, in flight: {w.InFlight?.Text ?? "nothing"}, errno {w.ErrorErrno}{(w.ShortWrite ? $" ({w.Error?.Message})" : "")}"))
                + $"; {actual.Count} files verified; {sw.Elapsed.TotalSeconds:0.0} s");
            state = actual;
        }
        fs.Unmount();
        var end = fs.Fsck();
        if (end.ExitCode != 0) fsckProblems.Add("fsck after the last round is not clean:\n" + end);
        Assert.True(fsckProblems.Count == 0, $"{fsckProblems.Count} fsck run(s) not clean; the first:\n{fsckProblems.FirstOrDefault()}");
        Assert.True(unmountProblems.Count == 0, string.Join('\n', unmountProblems));
    }

    /// <summary>Every operation of this round that named the file a problem is about (renames included), for diagnosis.</summary>
    private static string History(Workload w, string? problem)
    {
        if (problem is null) return "";
        var m = System.Text.RegularExpressions.Regex.Match(problem, @"(w\d+/[^\s:]+):");
        if (!m.Success) return "";
        string name = m.Groups[1].Value;
        var sb = new StringBuilder($"operations of this round naming {name}:\n");
        lock (w)
            foreach (var d in w.Done.Where(d => d.Contains(name, StringComparison.Ordinal) && (d.Length == d.IndexOf(name, StringComparison.Ordinal) + name.Length || !char.IsDigit(d[d.IndexOf(name, StringComparison.Ordinal) + name.Length]))))
                sb.Append("  ").Append(d).Append('\n');
        return sb.ToString();
    }

    private static string Tail(Workload w)
    {
        var sb = new StringBuilder($"{w.Prefix}: completed operations (last 15):\n");
        lock (w) foreach (var d in w.Done.TakeLast(15)) sb.Append("  ").Append(d).Append('\n');
        sb.Append($"in flight: {w.InFlight?.Text ?? "nothing"}\n");
        return sb.ToString();
    }

    /// <summary>
    /// Creates, pwrites, mmap writes with msync, truncates, punches, zeroes, copy_file_ranges
    /// (sharing blocks), renames and unlinks under its own prefix until an operation fails (the kill).
    /// </summary>
    private static unsafe void Run(string root, Workload w, Random rng)
    {
        var names = Dirs.SelectMany(d => Enumerable.Range(0, 10).Select(i => $"{w.Prefix}{d}{(d.Length == 0 ? "" : "/")}n{i}")).ToArray();
        string P(string rel) => Path.Combine(root, rel);
        try
        {
            while (!w.Stop)
            {
                var existing = w.Completed.Keys.Order(StringComparer.Ordinal).ToList();
                string name = names[rng.Next(names.Length)];
                bool exists = w.Completed.ContainsKey(name);
                int op = rng.Next(100);
                Op o;
                if (!exists && (op < 60 || existing.Count < 4))
                {
                    o = new Op($"create {name}", m => m[name] = []);
                    w.InFlight = o;
                    int fd = Native.open(P(name), Native.O_CREAT | Native.O_EXCL | Native.O_WRONLY | Native.O_CLOEXEC, 0x1A4);
                    if (fd < 0) throw new NativeException($"open {name} O_CREAT|O_EXCL", Native.Errno);
                    Complete(w, o);
                    Native.close(fd);
                    continue;
                }
                if (existing.Count == 0) continue;
                name = existing[rng.Next(existing.Count)];
                int size = w.Completed[name].Length;
                if (op < 45)
                {
                    long off = rng.Next(4) == 0 ? size : rng.Next(0, 128 * 1024);
                    var data = new byte[rng.Next(1, 64 * 1024)];
                    rng.NextBytes(data);
                    o = new Op($"pwrite {name} off {off} len {data.Length}", m => m[name] = Written(m[name], off, data)) { Write = (name, off, data) };
                    w.InFlight = o;
                    int fd = Native.open(P(name), Native.O_WRONLY | Native.O_CLOEXEC, 0);
                    if (fd < 0) throw new NativeException($"open {name}", Native.Errno);
                    try
                    {
                        nint n;
                        fixed (byte* p = data) n = Native.pwrite(fd, p, (nuint)data.Length, off);
                        if (n < 0) throw new NativeException($"pwrite {name}", Native.Errno);
                        if (n != data.Length)
                        {
                            // Cut short (by the kill, between two requests of one write): the
                            // bytes it reports written have to be there. The rest is still in
                            // flight: the daemon may have made the next request durable and died
                            // before its reply reached the kernel.
                            var part = data[..(int)n];
                            var rest = data[(int)n..];
                            Complete(w, new Op($"pwrite {name} off {off} len {data.Length}, returned {n}", m => m[name] = Written(m[name], off, part)));
                            w.InFlight = new Op($"pwrite {name} off {off + n} len {rest.Length} (the unacknowledged rest)", m => m[name] = Written(m[name], off + n, rest))
                            {
                                Write = (name, off + n, rest),
                            };
                            w.ShortWrite = true;
                            throw new InvalidOperationException($"pwrite {name} wrote {n} of {data.Length} bytes");
                        }
                        Complete(w, o);
                    }
                    finally { Native.close(fd); }
                }
                else if (op < 53 && size > 0)
                {
                    // mmap write + msync(MS_SYNC): durable once msync returned.
                    long off = rng.Next(size);
                    var data = new byte[(int)Math.Min(size - off, rng.Next(1, 32 * 1024))];
                    rng.NextBytes(data);
                    o = new Op($"mmap write+msync {name} off {off} len {data.Length}", m => m[name] = Written(m[name], off, data)) { Write = (name, off, data) };
                    w.InFlight = o;
                    int fd = Native.open(P(name), Native.O_RDWR | Native.O_CLOEXEC, 0);
                    if (fd < 0) throw new NativeException($"open {name}", Native.Errno);
                    try
                    {
                        long start = off & ~4095L;
                        nuint len = (nuint)(off + data.Length - start);
                        // Touching a page of the mapping once the daemon is dead raises SIGBUS,
                        // which would end the test host, so every page is faulted in (writable:
                        // page_mkwrite too) by MADV_POPULATE_WRITE first, where a dead daemon is an
                        // errno (EFAULT). Not MAP_POPULATE: when the daemon dies during it, this
                        // kernel (6.18) can spin in __mm_populate forever (seen 3 times in ~300 rounds).
                        nint map = Native.mmap(0, len, Native.PROT_READ | Native.PROT_WRITE, Native.MAP_SHARED, fd, start);
                        if (map == Native.MAP_FAILED) throw new NativeException($"mmap {name}", Native.Errno);
                        int synced;
                        try
                        {
                            if (Native.madvise(map, len, Native.MADV_POPULATE_WRITE) != 0)
                                throw new NativeException($"madvise(MADV_POPULATE_WRITE) {name}", Native.Errno);
                            int pages = (int)((len + 4095) / 4096);
                            var resident = new byte[pages];
                            fixed (byte* v = resident)
                                if (Native.mincore(map, len, v) != 0) throw new NativeException("mincore", Native.Errno);
                            if (resident.Any(b => (b & 1) == 0))
                                throw new NativeException($"mmap {name}: MADV_POPULATE_WRITE left pages out (the daemon is gone?)", Native.EIO);
                            data.CopyTo(new Span<byte>((byte*)map + (off - start), data.Length));
                            synced = Native.msync(map, len, Native.MS_SYNC) == 0 ? 0 : Native.Errno;
                        }
                        finally { Native.munmap(map, len); }
                        if (synced != 0) throw new NativeException($"msync {name}", synced);
                        Complete(w, o);
                    }
                    finally { Native.close(fd); }
                }
                else if (op < 60)
                {
                    long newSize = rng.Next(0, 160 * 1024);
                    o = new Op($"truncate {name} {newSize}", m => m[name] = Truncated(m[name], newSize));
                    w.InFlight = o;
                    int fd = Native.open(P(name), Native.O_WRONLY | Native.O_CLOEXEC, 0);
                    if (fd < 0) throw new NativeException($"open {name}", Native.Errno);
                    try
                    {
                        if (Native.ftruncate(fd, newSize) != 0) throw new NativeException($"ftruncate {name}", Native.Errno);
                        Complete(w, o);
                    }
                    finally { Native.close(fd); }
                }
                else if (op < 68)
                {
                    long off = rng.Next(0, 160 * 1024);
                    long len = rng.Next(1, 64 * 1024);
                    bool punch = rng.Next(2) == 0;
                    int mode = punch ? Native.FALLOC_FL_PUNCH_HOLE | Native.FALLOC_FL_KEEP_SIZE : Native.FALLOC_FL_ZERO_RANGE;
                    o = new Op($"{(punch ? "punch hole" : "zero range")} {name} off {off} len {len}", m => m[name] = Zeroed(m[name], off, len, keepSize: punch));
                    w.InFlight = o;
                    int fd = Native.open(P(name), Native.O_WRONLY | Native.O_CLOEXEC, 0);
                    if (fd < 0) throw new NativeException($"open {name}", Native.Errno);
                    try
                    {
                        if (Native.fallocate(fd, mode, off, len) != 0) throw new NativeException($"fallocate {name}", Native.Errno);
                        Complete(w, o);
                    }
                    finally { Native.close(fd); }
                }
                else if (op < 76 && existing.Count >= 2)
                {
                    // copy_file_range from another file: offsets congruent modulo 4096 (mostly) share
                    // the whole blocks and copy the edges; later pwrites, truncates, punches and
                    // zero ranges of either file then copy on write. The blocks land in file order
                    // (head copy, clone windows, tail copy), each durable: one killed in flight
                    // leaves a prefix, checked as a pwrite cut short is.
                    string from = existing.Where(e => e != name).ElementAt(rng.Next(existing.Count - 1));
                    var source = w.Completed[from];
                    if (source.Length == 0) continue;
                    long srcOff = rng.Next(3) == 0 ? rng.Next(source.Length) : rng.Next((source.Length + 4095) / 4096) * 4096L;
                    long dstOff = rng.Next(4) == 0 ? rng.Next(0, 96 * 1024) : srcOff % 4096 + rng.Next(0, 24) * 4096L;
                    long want = rng.Next(1, 128 * 1024);
                    var bytes = source.AsSpan((int)Math.Min(srcOff, source.Length), (int)Math.Clamp(source.Length - srcOff, 0, want)).ToArray();
                    if (bytes.Length == 0) continue;
                    o = new Op($"copy_file_range {from} off {srcOff} -> {name} off {dstOff} len {want} ({bytes.Length} in the source)", m => m[name] = Written(m[name], dstOff, bytes))
                    {
                        Write = (name, dstOff, bytes),
                    };
                    w.InFlight = o;
                    int sfd = Native.open(P(from), Native.O_RDONLY | Native.O_CLOEXEC, 0);
                    if (sfd < 0) throw new NativeException($"open {from}", Native.Errno);
                    int dfd = Native.open(P(name), Native.O_WRONLY | Native.O_CLOEXEC, 0);
                    try
                    {
                        if (dfd < 0) throw new NativeException($"open {name}", Native.Errno);
                        long so = srcOff, d = dstOff;
                        nint n = Native.copy_file_range(sfd, &so, dfd, &d, (nuint)want, 0);
                        if (n < 0) throw new NativeException($"copy_file_range {from} {name}", Native.Errno);
                        if (n != bytes.Length)
                        {
                            var part = bytes[..(int)n];
                            Complete(w, new Op($"{o.Text}, returned {n}", m => m[name] = Written(m[name], dstOff, part)));
                            w.ShortWrite = true;
                            throw new InvalidOperationException($"copy_file_range {from} -> {name} copied {n} of {bytes.Length} bytes");
                        }
                        Complete(w, o);
                    }
                    finally
                    {
                        Native.close(sfd);
                        if (dfd >= 0) Native.close(dfd);
                    }
                }
                else if (op < 88)
                {
                    string to = names[rng.Next(names.Length)];
                    o = new Op($"rename {name} -> {to}", m =>
                    {
                        var c = m[name];
                        m.Remove(name);
                        m[to] = c;
                    });
                    w.InFlight = o;
                    if (Native.rename(P(name), P(to)) != 0) throw new NativeException($"rename {name} {to}", Native.Errno);
                    Complete(w, o);
                }
                else if (op < 95 || w.Held.Count >= 4)
                {
                    o = new Op($"unlink {name}", m => m.Remove(name));
                    w.InFlight = o;
                    if (Native.unlink(P(name)) != 0) throw new NativeException($"unlink {name}", Native.Errno);
                    Complete(w, o);
                }
                else
                {
                    // Unlinked while open, and kept open until the kill: an orphan for recovery to free.
                    o = new Op($"open, unlink and keep open {name}", m => m.Remove(name));
                    w.InFlight = o;
                    int fd = Native.open(P(name), Native.O_RDWR | Native.O_CLOEXEC, 0);
                    if (fd < 0) throw new NativeException($"open {name}", Native.Errno);
                    w.Held.Add(fd);
                    if (Native.unlink(P(name)) != 0) throw new NativeException($"unlink {name}", Native.Errno);
                    Complete(w, o);
                    var more = new byte[4096];
                    rng.NextBytes(more);
                    Native.PWriteAll(fd, more, rng.Next(0, 100_000));
                }
            }
        }
        catch (Exception e)
        {
            w.Error = e;
            w.ErrorErrno = e is NativeException ne ? ne.Errno : -1;
        }
        finally
        {
            foreach (int fd in w.Held) Native.close(fd);
        }
    }

    private static void Complete(Workload w, Op o)
    {
        lock (w)
        {
            o.Apply(w.Completed);
            w.Done.Add(o.Text);
            w.InFlight = null;
        }
    }

    private static byte[] Written(byte[] old, long off, byte[] data)
    {
        var n = new byte[Math.Max(old.Length, off + data.Length)];
        old.CopyTo(n, 0);
        data.CopyTo(n, off);
        return n;
    }

    private static byte[] Zeroed(byte[] old, long off, long len, bool keepSize)
    {
        var n = new byte[keepSize ? old.Length : Math.Max(old.Length, off + len)];
        old.CopyTo(n, 0);
        if (off < n.Length) Array.Clear(n, (int)off, (int)Math.Min(len, n.Length - off));
        return n;
    }

    private static byte[] Truncated(byte[] old, long size)
    {
        var n = new byte[size];
        Array.Copy(old, n, Math.Min(old.Length, size));
        return n;
    }

    /// <summary>Every regular file under <paramref name="root"/> (relative path → content).</summary>
    private static Dictionary<string, byte[]> ReadTree(string root)
    {
        var d = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var f in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
            d[Path.GetRelativePath(root, f)] = Native.ReadWholeFile(f);
        return d;
    }

    /// <summary>Null when <paramref name="actual"/> is the completed state, or that state plus the operation in flight.</summary>
    private static string? Compare(Dictionary<string, byte[]> completed, Op? inFlight, Dictionary<string, byte[]> actual)
    {
        string? asCompleted = Diff(completed, actual);
        if (asCompleted is null || inFlight is null) return asCompleted is null ? null : "not the state of the completed operations: " + asCompleted;
        var after = new Dictionary<string, byte[]>(completed, StringComparer.Ordinal);
        inFlight.Apply(after);
        if (Diff(after, actual) is null) return null;
        if (inFlight.Write is var (path, off, data))
        {
            // A pwrite cut short by the kill: each byte old or new, the size between old and new.
            // The kernel splits one pwrite into several WRITE requests (an unaligned first page
            // alone, then up to max_write each); each is atomic and durable, the syscall as a
            // whole is not, as on any Linux file system. So a prefix may have landed and grown
            // the file to a page boundary.
            var others = Diff(completed.Where(kv => kv.Key != path).ToDictionary(), actual.Where(kv => kv.Key != path).ToDictionary());
            if (others is null && actual.TryGetValue(path, out var got))
            {
                var old = completed[path];
                var neu = after[path];
                int low = Math.Min(old.Length, neu.Length), high = Math.Max(old.Length, neu.Length);
                if (got.Length < low || got.Length > high)
                    return $"{path}: size {got.Length} after a pwrite in flight, expected between {old.Length} and {neu.Length}";
                for (int i = 0; i < got.Length; i++)
                {
                    byte o = i < old.Length ? old[i] : (byte)0;
                    if (got[i] != o && got[i] != neu[i])
                        return $"{path}: byte {i} is 0x{got[i]:x2}, neither the old 0x{o:x2} nor the new 0x{neu[i]:x2} (pwrite off {off} len {data.Length} in flight)";
                }
                return null;
            }
        }
        return $"neither the state of the completed operations ({asCompleted}) nor that plus the one in flight, {inFlight.Text}";
    }

    private static string? Diff(Dictionary<string, byte[]> want, Dictionary<string, byte[]> got)
    {
        var missing = want.Keys.Where(k => !got.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var extra = got.Keys.Where(k => !want.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        if (missing.Count > 0 || extra.Count > 0)
            return $"missing [{string.Join(' ', missing)}], unexpected [{string.Join(' ', extra)}]";
        foreach (var (k, v) in want.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var g = got[k];
            if (g.Length != v.Length) return $"{k}: size {g.Length}, expected {v.Length}";
            if (!g.AsSpan().SequenceEqual(v)) return $"{k}: content differs at offset {g.AsSpan().CommonPrefixLength(v)}";
        }
        return null;
    }
}
