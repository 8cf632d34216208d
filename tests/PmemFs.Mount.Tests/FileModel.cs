using System.Text;

namespace PmemFs.Mount.Tests;

/// <summary>How <see cref="FileModel"/> runs against one kind of directory.</summary>
internal sealed class ModelOptions
{
    /// <summary>False for tmpfs, which refuses FALLOC_FL_ZERO_RANGE with EOPNOTSUPP.</summary>
    public bool ZeroRangeSupported { get; init; } = true;

    /// <summary>Called halfway (and the model is checked after it): unmount + remount, for instance.</summary>
    public Action? Halfway { get; init; }

    /// <summary>Called at the end (and the model is checked after it): unmount, fsck, remount.</summary>
    public Action? AtEnd { get; init; }

    /// <summary>Extra text for a failure message (the daemon's log tail).</summary>
    public Func<string>? Diagnostics { get; init; }

    /// <summary>Where progress lines go (seed, counts).</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>A failed model step: names the seed, the step and the operations that led there.</summary>
internal sealed class ModelFailureException : Exception
{
    public ModelFailureException() { }

    public ModelFailureException(string message) : base(message) { }

    public ModelFailureException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// A randomized model-based test of file contents and names in one directory, driven through
/// libc: a few files whose names are renamed, exchanged, linked and unlinked, and thousands of
/// writes, truncates, fallocates, mmap reads and writes and copy_file_ranges, each checked
/// against a trivially correct in-memory model right after it returns.
/// </summary>
internal sealed unsafe class FileModel
{
    private const int MaxIo = 200 * 1024;
    private const int MaxOffset = 4 << 20;
    private static readonly string[] Names = ["a", "b", "c", "d", "e", "f"];

    private sealed class Node
    {
        private static int _next;
        public readonly int Id = Interlocked.Increment(ref _next);
        public byte[] Data = new byte[64 * 1024];
        public int Length;
        public ulong Ino;

        public Span<byte> Content => Data.AsSpan(0, Length);

        /// <summary>Sets the length; bytes past the length are always zero.</summary>
        public void Resize(long length)
        {
            int n = checked((int)length);
            if (n > Data.Length) Array.Resize(ref Data, Math.Max(n, Data.Length * 2));
            if (n < Length) Data.AsSpan(n, Length - n).Clear();
            Length = n;
        }

        public void Write(long offset, ReadOnlySpan<byte> bytes)
        {
            if (bytes.Length == 0) return; // a zero-length write changes nothing, not even the size
            if (offset + bytes.Length > Length) Resize(offset + bytes.Length);
            bytes.CopyTo(Data.AsSpan((int)offset));
        }

        public void Zero(long offset, long length)
        {
            long end = Math.Min(Length, offset + length);
            if (end > offset) Data.AsSpan((int)offset, (int)(end - offset)).Clear();
        }
    }

    private readonly string _dir;
    private readonly int _seed;
    private readonly int _ops;
    private readonly ModelOptions _options;
    private readonly Random _rng;
    private readonly Dictionary<string, Node> _names = new(StringComparer.Ordinal);
    private readonly Queue<string> _history = new();
    private readonly Dictionary<string, int> _counts = [];
    private readonly List<(int Fd, Node Node)> _held = [];
    private int _step;

    private FileModel(string dir, int seed, int ops, ModelOptions options)
    {
        _dir = dir;
        _seed = seed;
        _ops = ops;
        _options = options;
        _rng = new Random(seed);
    }

    /// <summary>The seed (PMEMFS_MODEL_SEED, else <paramref name="fallback"/>).</summary>
    public static int SeedFromEnvironment(int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable("PMEMFS_MODEL_SEED"), out int s) ? s : fallback;

    /// <summary>The operation count (PMEMFS_MODEL_OPS, else <paramref name="fallback"/>).</summary>
    public static int OpsFromEnvironment(int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable("PMEMFS_MODEL_OPS"), out int n) && n > 0 ? n : fallback;

    /// <summary>Runs <paramref name="ops"/> random operations in the empty directory <paramref name="dir"/>.</summary>
    public static void Run(string dir, int seed, int ops, ModelOptions options)
    {
        if (Directory.EnumerateFileSystemEntries(dir).Any()) throw new ArgumentException($"{dir} is not empty");
        new FileModel(dir, seed, ops, options).Run();
    }

    private void Run()
    {
        _options.Log?.Invoke($"model: seed {_seed} (PMEMFS_MODEL_SEED), {_ops} ops (PMEMFS_MODEL_OPS), in {_dir}");
        Guard("setup", () =>
        {
            for (int i = 0; i < 4; i++) Create(Names[i]);
            VerifyAll("setup");
        });
        for (_step = 0; _step < _ops; _step++)
        {
            Guard(null, Step);
            if (_step % 50 == 49) Guard("periodic full check", () => VerifyAll("periodic"));
            if (_step == _ops / 2 && _options.Halfway is not null)
                Guard("halfway remount", () => { CloseHeld(); _options.Halfway(); VerifyAll("after halfway remount"); });
        }
        if (_options.AtEnd is not null)
            Guard("end remount", () => { CloseHeld(); _options.AtEnd(); VerifyAll("after final remount"); });
        else Guard("end", () => { CloseHeld(); VerifyAll("end"); });
        _options.Log?.Invoke("model: done; " + string.Join(", ", _counts.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key} {kv.Value}")));
    }

    private void Guard(string? what, Action action)
    {
        try
        {
            action();
        }
        catch (Exception e) when (e is not SkipException)
        {
            CloseHeld();
            var sb = new StringBuilder();
            sb.Append($"model test failed: seed {_seed} (rerun with PMEMFS_MODEL_SEED={_seed} PMEMFS_MODEL_OPS={_ops}), ");
            sb.Append(what is null ? $"op index {_step}" : $"{what} (after op index {_step})");
            sb.Append($" in {_dir}\n{e.GetType().Name}: {e.Message}\nlast operations (oldest first):\n");
            foreach (var h in _history) sb.Append("  ").Append(h).Append('\n');
            if (_options.Diagnostics is not null) sb.Append(_options.Diagnostics());
            throw new ModelFailureException(sb.ToString(), e);
        }
    }

    private string P(string name) => Path.Combine(_dir, name);

    private void Record(string kind, string text)
    {
        _counts[kind] = _counts.GetValueOrDefault(kind) + 1;
        _history.Enqueue($"#{_step} {text}");
        while (_history.Count > 25) _history.Dequeue();
    }

    private long RandomOffset(Node n)
    {
        return _rng.Next(6) switch
        {
            0 => n.Length,                                         // append
            1 => _rng.Next(0, MaxOffset / 4096) * 4096L,           // aligned
            2 => n.Length == 0 ? 0 : _rng.Next(n.Length),          // inside
            3 => Math.Max(0, n.Length - _rng.Next(5000)),          // near the end
            _ => _rng.Next(MaxOffset),                             // anywhere, unaligned
        };
    }

    private int RandomLength()
    {
        return _rng.Next(5) switch
        {
            0 => _rng.Next(0, 64),
            1 => _rng.Next(0, 9000),
            2 => _rng.Next(1, 17) * 4096,
            _ => _rng.Next(0, MaxIo + 1),
        };
    }

    private byte[] RandomBytes(int n)
    {
        var b = new byte[n];
        _rng.NextBytes(b);
        // Some zero bytes inside data, so zero data and holes are told apart by content only.
        if (n > 100 && _rng.Next(4) == 0) b.AsSpan(n / 3, n / 3).Clear();
        return b;
    }

    private string? FreeName()
    {
        var free = Names.Where(n => !_names.ContainsKey(n)).ToList();
        return free.Count == 0 ? null : free[_rng.Next(free.Count)];
    }

    private string? UsedName()
    {
        if (_names.Count == 0) return null;
        var used = _names.Keys.Order(StringComparer.Ordinal).ToList();
        return used[_rng.Next(used.Count)];
    }

    private string AnyName() => Names[_rng.Next(Names.Length)];

    private void Step()
    {
        int op = _rng.Next(100);
        string? name = UsedName();
        if (name is null || op < 4)
        {
            string? free = FreeName();
            if (free is null) { OTrunc(name!); return; }
            Create(free);
            Record("create", $"create {free} (O_CREAT|O_EXCL)");
            VerifyNames(free);
            return;
        }
        var node = _names[name];
        if (op < 16) WriteAt(name, node, positional: false);
        else if (op < 32) WriteAt(name, node, positional: true);
        else if (op < 35) Append(name, node);
        else if (op < 43) Truncate(name, node);
        else if (op < 54) Fallocate(name, node);
        else if (op < 58) MmapRead(name, node);
        else if (op < 64) MmapWrite(name, node);
        else if (op < 72) CopyRange(name, node);
        else if (op < 78) Rename(name);
        else if (op < 81) Rename2(name, Native.RENAME_NOREPLACE);
        else if (op < 84) Rename2(name, Native.RENAME_EXCHANGE);
        else if (op < 88) Link(name);
        else if (op < 91) Unlink(name);
        else if (op < 93) UnlinkWhileOpen(name, node);
        else if (op < 95) OTrunc(name);
        else if (op < 98) HeldDescriptor(name, node);
        else Verify(node, "check");
    }

    /// <summary>
    /// Descriptors kept open across other operations (renames, unlinks, truncates through other
    /// descriptors): they keep writing to and reading their inode, named or orphaned.
    /// </summary>
    private void HeldDescriptor(string name, Node node)
    {
        if (_held.Count < 3 && (_held.Count == 0 || _rng.Next(2) == 0))
        {
            Record("hold", $"open {name} and keep it open (descriptor {_held.Count})");
            _held.Add((Native.Open(P(name), Native.O_RDWR), node));
            return;
        }
        int i = _rng.Next(_held.Count);
        var (fd, held) = _held[i];
        bool named = _names.ContainsValue(held);
        if (_rng.Next(10) < 7)
        {
            long off = _rng.Next(held.Length + 5000);
            var data = RandomBytes(_rng.Next(0, 30_000));
            Record("held-write", $"pwrite through held descriptor {i} ({(named ? "named" : "orphan")}) off {off} len {data.Length}");
            Native.PWriteAll(fd, data, off);
            held.Write(off, data);
            CheckContent(fd, held, $"held descriptor {i}");
            Verify(held, "other name of a held descriptor");
        }
        else
        {
            Record("held-close", $"close held descriptor {i} ({(named ? "named" : "orphan")})");
            _held.RemoveAt(i);
            Native.Close(fd);
        }
    }

    private void CloseHeld()
    {
        foreach (var (fd, _) in _held) Native.close(fd);
        _held.Clear();
    }

    private void Create(string name)
    {
        int fd = Native.open(P(name), Native.O_CREAT | Native.O_EXCL | Native.O_RDWR | Native.O_CLOEXEC, 0x1A4);
        if (fd < 0) throw new NativeException($"open {name} O_CREAT|O_EXCL", Native.Errno);
        var node = new Node { Ino = Native.FStat(fd).Ino };
        Native.Close(fd);
        _names[name] = node;
    }

    private void OTrunc(string name)
    {
        var node = _names[name];
        int fd = Native.Open(P(name), Native.O_RDWR | Native.O_TRUNC);
        Native.Close(fd);
        Record("otrunc", $"open {name} O_TRUNC (was {node.Length})");
        node.Resize(0);
        Verify(node, "O_TRUNC");
    }

    private void WriteAt(string name, Node node, bool positional)
    {
        long off = RandomOffset(node);
        var data = RandomBytes(RandomLength());
        Record(positional ? "pwrite" : "write", $"{(positional ? "pwrite" : "lseek+write")} {name} off {off} len {data.Length}");
        int fd = Native.Open(P(name), Native.O_RDWR);
        try
        {
            if (positional) Native.PWriteAll(fd, data, off);
            else
            {
                if (Native.lseek(fd, off, Native.SEEK_SET) != off) throw new NativeException("lseek", Native.Errno);
                Native.WriteAll(fd, data);
                long pos = Native.lseek(fd, 0, Native.SEEK_CUR);
                if (pos != off + data.Length) throw new InvalidOperationException($"file offset after write is {pos}, expected {off + data.Length}");
            }
            if (_rng.Next(8) == 0 && (_rng.Next(2) == 0 ? Native.fsync(fd) : Native.fdatasync(fd)) != 0)
                throw new NativeException("fsync", Native.Errno);
        }
        finally { Native.close(fd); }
        node.Write(off, data);
        Verify(node, "write");
    }

    private void Append(string name, Node node)
    {
        var data = RandomBytes(RandomLength());
        Record("append", $"O_APPEND write {name} len {data.Length} (size {node.Length})");
        int fd = Native.Open(P(name), Native.O_WRONLY | Native.O_APPEND);
        try
        {
            Native.lseek(fd, 0, Native.SEEK_SET); // O_APPEND writes at the end regardless
            Native.WriteAll(fd, data);
        }
        finally { Native.close(fd); }
        node.Write(node.Length, data);
        Verify(node, "append");
    }

    private void Truncate(string name, Node node)
    {
        long size = _rng.Next(4) switch
        {
            0 => 0,
            1 => node.Length == 0 ? 0 : _rng.Next(node.Length),
            2 => node.Length + _rng.Next(20_000),
            _ => _rng.Next(MaxOffset),
        };
        Record("truncate", $"ftruncate {name} {node.Length} -> {size}");
        int fd = Native.Open(P(name), Native.O_RDWR);
        try
        {
            if (Native.ftruncate(fd, size) != 0) throw new NativeException("ftruncate", Native.Errno);
        }
        finally { Native.close(fd); }
        node.Resize(size);
        Verify(node, "truncate");
    }

    private void Fallocate(string name, Node node)
    {
        long off = _rng.Next(3) == 0 ? _rng.Next(0, MaxOffset / 4096) * 4096L : Math.Min(RandomOffset(node), MaxOffset);
        long len = _rng.Next(3) == 0 ? _rng.Next(1, 65) * 4096L : _rng.Next(1, 1 << 20);
        int mode = _rng.Next(5) switch
        {
            0 => 0,
            1 => Native.FALLOC_FL_KEEP_SIZE,
            2 => Native.FALLOC_FL_PUNCH_HOLE | Native.FALLOC_FL_KEEP_SIZE,
            3 => Native.FALLOC_FL_ZERO_RANGE,
            _ => Native.FALLOC_FL_ZERO_RANGE | Native.FALLOC_FL_KEEP_SIZE,
        };
        string kind = mode switch
        {
            0 => "fallocate",
            Native.FALLOC_FL_KEEP_SIZE => "fallocate-keep-size",
            Native.FALLOC_FL_PUNCH_HOLE | Native.FALLOC_FL_KEEP_SIZE => "punch-hole",
            Native.FALLOC_FL_ZERO_RANGE => "zero-range",
            _ => "zero-range-keep-size",
        };
        Record(kind, $"{kind} (mode {mode:x}) {name} off {off} len {len} (size {node.Length})");
        int fd = Native.Open(P(name), Native.O_RDWR);
        try
        {
            if (Native.fallocate(fd, mode, off, len) != 0)
            {
                int e = Native.Errno;
                if (e == Native.EOPNOTSUPP && (mode & Native.FALLOC_FL_ZERO_RANGE) != 0 && !_options.ZeroRangeSupported)
                {
                    Record("zero-range-unsupported", "  (ZERO_RANGE unsupported here, skipped)");
                    return;
                }
                throw new NativeException($"fallocate mode {mode:x}", e);
            }
        }
        finally { Native.close(fd); }
        if ((mode & (Native.FALLOC_FL_PUNCH_HOLE | Native.FALLOC_FL_ZERO_RANGE)) != 0) node.Zero(off, len);
        if ((mode & Native.FALLOC_FL_KEEP_SIZE) == 0 && off + len > node.Length) node.Resize(off + len);
        Verify(node, kind);
    }

    private (long Off, int Len) RandomRangeWithin(Node node)
    {
        long off = _rng.Next(node.Length);
        int len = (int)Math.Min(node.Length - off, _rng.Next(2) == 0 ? _rng.Next(1, 9000) : _rng.Next(1, MaxIo + 1));
        return (off, Math.Max(1, len));
    }

    private void MmapRead(string name, Node node)
    {
        if (node.Length == 0) { Verify(node, "check"); return; }
        var (off, len) = RandomRangeWithin(node);
        Record("mmap-read", $"mmap read {name} off {off} len {len} (size {node.Length})");
        int fd = Native.Open(P(name), Native.O_RDONLY);
        try
        {
            long start = off & ~4095L;
            nuint mapLen = (nuint)(off + len - start);
            nint map = Native.mmap(0, mapLen, Native.PROT_READ, Native.MAP_SHARED, fd, start);
            if (map == Native.MAP_FAILED) throw new NativeException("mmap PROT_READ", Native.Errno);
            try
            {
                var seen = new ReadOnlySpan<byte>((byte*)map + (off - start), len);
                var want = node.Content.Slice((int)off, len);
                if (!seen.SequenceEqual(want))
                    throw new InvalidOperationException($"mmap read differs from the model at file offset {off + seen.CommonPrefixLength(want)}");
            }
            finally { Native.munmap(map, mapLen); }
        }
        finally { Native.close(fd); }
    }

    private void MmapWrite(string name, Node node)
    {
        if (node.Length == 0) { Verify(node, "check"); return; }
        var (off, len) = RandomRangeWithin(node);
        var data = RandomBytes(len);
        Record("mmap-write", $"mmap write+msync {name} off {off} len {len} (size {node.Length})");
        int fd = Native.Open(P(name), Native.O_RDWR);
        try
        {
            long start = off & ~4095L;
            nuint mapLen = (nuint)(off + len - start);
            nint map = Native.mmap(0, mapLen, Native.PROT_READ | Native.PROT_WRITE, Native.MAP_SHARED, fd, start);
            if (map == Native.MAP_FAILED) throw new NativeException("mmap PROT_READ|PROT_WRITE", Native.Errno);
            int unmapped;
            try
            {
                data.CopyTo(new Span<byte>((byte*)map + (off - start), len));
                if (Native.msync(map, mapLen, Native.MS_SYNC) != 0) throw new NativeException("msync MS_SYNC", Native.Errno);
            }
            finally
            {
                unmapped = Native.munmap(map, mapLen);
            }
            if (unmapped != 0) throw new NativeException("munmap", Native.Errno);
        }
        finally { Native.close(fd); }
        node.Write(off, data);
        Verify(node, "mmap write");
    }

    private void CopyRange(string srcName, Node src)
    {
        string dstName = UsedName()!;
        var dst = _names[dstName];
        bool same = ReferenceEquals(src, dst);
        long srcOff = src.Length == 0 || _rng.Next(10) == 0 ? _rng.Next(src.Length + 5000) : _rng.Next(src.Length);
        int len = RandomLength();
        long dstOff = RandomOffset(dst);
        if (same)
        {
            // Non-overlapping ranges inside one file.
            long avail = Math.Max(0, src.Length - srcOff);
            long real = Math.Min(len, avail);
            if (dstOff < srcOff + real && srcOff < dstOff + real)
                dstOff = _rng.Next(2) == 0 || srcOff < real ? srcOff + real + _rng.Next(10_000) : Math.Max(0, srcOff - real - _rng.Next(10_000));
            if (dstOff < srcOff + real && srcOff < dstOff + real) dstOff = srcOff + real;
        }
        long expect = Math.Max(0, Math.Min(len, src.Length - srcOff));
        string kind = same ? "copy-range-within" : "copy-range";
        Record(kind, $"copy_file_range {srcName}@{srcOff} -> {dstName}@{dstOff} len {len} (sizes {src.Length}, {dst.Length}; expect {expect})");
        int fdIn = Native.Open(P(srcName), Native.O_RDONLY);
        int fdOut = -1;
        long copied = 0;
        try
        {
            fdOut = Native.Open(P(dstName), Native.O_WRONLY);
            long inOff = srcOff, outOff = dstOff;
            // Until the expected count; then (another file only: within one file the copy itself
            // grows the source) once more, which must find the end of the source.
            while (copied < expect || (copied < len && !same))
            {
                nint n = Native.copy_file_range(fdIn, &inOff, fdOut, &outOff, (nuint)(len - copied), 0);
                if (n < 0) throw new NativeException("copy_file_range", Native.Errno);
                if (n == 0) break;
                if (copied + n > expect) throw new InvalidOperationException($"copy_file_range copied {copied + n} bytes, expected only {expect}");
                copied += n;
                if (inOff != srcOff + copied || outOff != dstOff + copied)
                    throw new InvalidOperationException($"copy_file_range advanced the offsets to {inOff}, {outOff} after {copied} bytes");
            }
        }
        finally
        {
            Native.close(fdIn);
            if (fdOut >= 0) Native.close(fdOut);
        }
        if (copied != expect) throw new InvalidOperationException($"copy_file_range copied {copied} bytes, expected {expect}");
        if (expect > 0)
        {
            var bytes = src.Content.Slice((int)srcOff, (int)expect).ToArray();
            dst.Write(dstOff, bytes);
        }
        Verify(dst, kind);
        if (!same) Verify(src, kind + " (source)");
    }

    private void Rename(string from)
    {
        string to = AnyName();
        var node = _names[from];
        bool exists = _names.TryGetValue(to, out var old);
        Record("rename", $"rename {from} -> {to}{(exists ? ReferenceEquals(old, node) ? " (same inode)" : " (replacing)" : "")}");
        if (Native.rename(P(from), P(to)) != 0) throw new NativeException($"rename {from} {to}", Native.Errno);
        if (from != to && !ReferenceEquals(old, node))
        {
            _names.Remove(from);
            _names[to] = node;
        }
        VerifyNames(from, to);
    }

    private void Rename2(string from, uint flags)
    {
        string to = AnyName();
        var node = _names[from];
        bool exists = _names.TryGetValue(to, out var other);
        string kind = flags == Native.RENAME_NOREPLACE ? "rename-noreplace" : "rename-exchange";
        Record(kind, $"renameat2 {kind} {from} -> {to} (target {(exists ? "exists" : "absent")})");
        int rc = Native.renameat2(Native.AT_FDCWD, P(from), Native.AT_FDCWD, P(to), flags);
        int e = rc == 0 ? 0 : Native.Errno;
        if (flags == Native.RENAME_NOREPLACE)
        {
            if (exists)
            {
                if (e != Native.EEXIST) throw new InvalidOperationException($"renameat2 NOREPLACE onto an existing name gave errno {e}, expected EEXIST");
            }
            else
            {
                if (e != 0) throw new NativeException("renameat2 NOREPLACE", e);
                _names.Remove(from);
                _names[to] = node;
            }
        }
        else
        {
            if (!exists)
            {
                if (e != Native.ENOENT) throw new InvalidOperationException($"renameat2 EXCHANGE with an absent name gave errno {e}, expected ENOENT");
            }
            else
            {
                if (e != 0) throw new NativeException("renameat2 EXCHANGE", e);
                _names[from] = other!;
                _names[to] = node;
            }
        }
        VerifyNames(from, to);
    }

    private void Link(string from)
    {
        string to = AnyName();
        var node = _names[from];
        bool exists = _names.ContainsKey(to);
        Record("link", $"link {from} -> {to}{(exists ? " (exists: expect EEXIST)" : "")}");
        int rc = Native.link(P(from), P(to));
        int e = rc == 0 ? 0 : Native.Errno;
        if (exists)
        {
            if (e != Native.EEXIST) throw new InvalidOperationException($"link onto an existing name gave errno {e}, expected EEXIST");
        }
        else
        {
            if (e != 0) throw new NativeException($"link {from} {to}", e);
            _names[to] = node;
        }
        VerifyNames(from, to);
    }

    private void Unlink(string name)
    {
        Record("unlink", $"unlink {name}");
        if (Native.unlink(P(name)) != 0) throw new NativeException($"unlink {name}", Native.Errno);
        _names.Remove(name);
        VerifyNames(name);
        int fd = Native.open(P(name), Native.O_RDONLY | Native.O_CLOEXEC, 0);
        int e = fd >= 0 ? 0 : Native.Errno;
        if (fd >= 0) Native.close(fd);
        if (e != Native.ENOENT) throw new InvalidOperationException($"open of an unlinked name gave errno {e}, expected ENOENT");
    }

    /// <summary>unlink while open: the open descriptor keeps the content, readable and writable.</summary>
    private void UnlinkWhileOpen(string name, Node node)
    {
        var data = RandomBytes(_rng.Next(1, 20_000));
        long off = _rng.Next(node.Length + 1);
        Record("unlink-open", $"open {name}, unlink, check, pwrite off {off} len {data.Length}, check, close");
        int fd = Native.Open(P(name), Native.O_RDWR);
        try
        {
            if (Native.unlink(P(name)) != 0) throw new NativeException($"unlink {name}", Native.Errno);
            _names.Remove(name);
            VerifyNames(name);
            CheckContent(fd, node, "unlinked but open");
            Native.PWriteAll(fd, data, off);
            node.Write(off, data);
            CheckContent(fd, node, "written after unlink");
        }
        finally { Native.close(fd); }
        if (_names.ContainsValue(node)) Verify(node, "other name after unlink-while-open");
    }

    /// <summary>Content, size and SEEK_DATA/SEEK_HOLE of <paramref name="node"/> through one of its names (if it has one).</summary>
    private void Verify(Node node, string what)
    {
        var names = _names.Where(kv => ReferenceEquals(kv.Value, node)).Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();
        if (names.Count == 0) return;
        string name = names[_rng.Next(names.Count)];
        int fd = Native.Open(P(name), Native.O_RDONLY);
        try
        {
            var st = Native.FStat(fd);
            if (st.Ino != node.Ino) throw new InvalidOperationException($"{what}: {name} has inode {st.Ino}, expected {node.Ino}");
            if (st.Nlink != (ulong)names.Count)
                throw new InvalidOperationException($"{what}: {name} has nlink {st.Nlink}, expected {names.Count} ({string.Join(',', names)})");
            CheckContent(fd, node, $"{what}: {name}");
        }
        finally { Native.close(fd); }
    }

    private static void CheckContent(int fd, Node node, string what)
    {
        var st = Native.FStat(fd);
        if (st.Size != node.Length) throw new InvalidOperationException($"{what}: size {st.Size}, expected {node.Length}");
        var actual = Native.PReadAll(fd, 0, node.Length + 4096);
        if (actual.Length != node.Length) throw new InvalidOperationException($"{what}: pread returned {actual.Length} bytes, expected {node.Length}");
        var want = node.Content;
        if (!actual.AsSpan().SequenceEqual(want))
        {
            int at = actual.AsSpan().CommonPrefixLength(want);
            int end = at;
            while (end < want.Length && actual[end] != want[end]) end++;
            throw new InvalidOperationException($"{what}: content differs from the model at offset {at} (first differing run [{at}, {end}), "
                + $"got {Hex(actual, at)}, expected {Hex(want, at)})");
        }
        // Every non-zero model byte must lie in a region SEEK_DATA reports.
        var regions = Native.DataRegions(fd, node.Length);
        foreach (var (start, end) in regions)
            if (end > node.Length) throw new InvalidOperationException($"{what}: data region [{start}, {end}) goes past the size {node.Length}");
        int r = 0;
        for (int i = want.IndexOfAnyExcept((byte)0); i >= 0 && i < want.Length;)
        {
            while (r < regions.Count && regions[r].End <= i) r++;
            if (r == regions.Count || regions[r].Start > i)
                throw new InvalidOperationException($"{what}: offset {i} holds data (0x{want[i]:x2}) but SEEK_DATA/SEEK_HOLE report a hole there "
                    + $"(regions {string.Join(' ', regions.Take(20).Select(x => $"[{x.Start},{x.End})"))})");
            // Jump to the end of this region, then to the next non-zero byte.
            int next = (int)Math.Min(regions[r].End, want.Length);
            if (next >= want.Length) break;
            int rel = want[next..].IndexOfAnyExcept((byte)0);
            i = rel < 0 ? -1 : next + rel;
        }
    }

    private static string Hex(ReadOnlySpan<byte> b, int at) =>
        Convert.ToHexString(b.Slice(at, Math.Min(16, b.Length - at)));

    /// <summary>The names given exist (with the right inode) or not, as the model says.</summary>
    private void VerifyNames(params string[] names)
    {
        foreach (var n in names.Distinct())
        {
            if (_names.TryGetValue(n, out var node))
            {
                Native.Stat st;
                try { st = Native.LStat(P(n)); }
                catch (NativeException e) { throw new InvalidOperationException($"{n} should exist: {e.Message}", e); }
                if (st.Ino != node.Ino) throw new InvalidOperationException($"{n} has inode {st.Ino}, expected {node.Ino}");
                Verify(node, $"name {n}");
            }
            else if (Native.open(P(n), Native.O_RDONLY | Native.O_CLOEXEC, 0) is int fd && fd >= 0)
            {
                Native.close(fd);
                throw new InvalidOperationException($"{n} should not exist but opens");
            }
        }
    }

    /// <summary>The directory lists exactly the model's names, and every file matches.</summary>
    private void VerifyAll(string what)
    {
        var listed = Directory.EnumerateFileSystemEntries(_dir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        var want = _names.Keys.Order(StringComparer.Ordinal).ToList();
        if (!listed.SequenceEqual(want))
            throw new InvalidOperationException($"{what}: directory lists [{string.Join(',', listed)}], model has [{string.Join(',', want)}]");
        foreach (var (name, node) in _names.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var st = Native.LStat(P(name));
            if (st.Ino != node.Ino) throw new InvalidOperationException($"{what}: {name} has inode {st.Ino}, expected {node.Ino}");
            Verify(node, $"{what} {name}");
        }
    }
}
