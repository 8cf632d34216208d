using System.Text;
using PmemFs.Engine;
using PmemFs.Engine.Leases;
using PmemFs.Engine.Mapping;
using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.CrashSim;

/// <summary>One operation of a workload as the live run saw it.</summary>
/// <param name="Description">What it did, e.g. "rename /a -> /d/b (Exchange)".</param>
/// <param name="InPlaceIno">
/// A file whose written bytes the operation changes in place before its commit (overwrite,
/// zeroing of partial blocks): cut by a crash, each of those bytes may be old or new.
/// </param>
public sealed record OperationInfo(string Description, ulong InPlaceIno);

/// <summary>A failure of the live run itself (the engine disagreed with the workload or the model).</summary>
public sealed class WorkloadException(string message) : Exception(message)
{
    public WorkloadException() : this("workload failed") { }

    public WorkloadException(string message, Exception inner) : this(message + ": " + inner.Message) { }
}

/// <summary>
/// Runs a workload on a fresh image mounted through a <see cref="RecordingMedia"/>: every
/// operation is bracketed by start/returned markers, applied to the model when it succeeds, and
/// the live file system is compared with the model after it (so a model mistake shows up here,
/// not as a false crash failure). <see cref="Snapshots"/>[k] is the model after k operations.
/// </summary>
public sealed class WorkloadDriver : IDisposable
{
    private readonly Credentials _who = Credentials.Root;
    private long _writeId;

    public WorkloadDriver(int seed, long imageSize = 16L << 20, long inodes = 64, bool verifyLive = true)
    {
        Seed = seed;
        Rng = new Random(seed);
        VerifyLive = verifyLive;
        var memory = new MemoryMedia(imageSize);
        Media = new RecordingMedia(memory);
        Mkfs.Format(Media, new MkfsOptions { InodeCount = inodes, Uuid = new Guid(0x706d656d, 0x6673, 0x6373, 1, 2, 3, 4, 5, 6, 7, 8) });
        Fs = FileSystem.Mount(Media, new FileSystemOptions { NoAtime = true });
        CrashTestingFrom = Media.Count;
        Snapshots.Add(Model.Clone());
    }

    public int Seed { get; }
    public Random Rng { get; }
    public bool VerifyLive { get; set; }
    public RecordingMedia Media { get; }
    public FileSystem Fs { get; }
    public FsModel Model { get; private set; } = FsModel.Empty();
    public List<FsModel> Snapshots { get; } = [];
    public List<OperationInfo> Operations { get; } = [];

    /// <summary>Recording position from which crash points are generated (after mkfs and mount).</summary>
    public int CrashTestingFrom { get; private set; }

    public ulong Root => FsModel.Root;

    /// <summary>Pass as the expected result to accept whatever the engine returns (the model follows on success).</summary>
    public static readonly Errno AnyResult = new(-1);

    /// <summary>Crash points start here: what came before is setup (still recorded and modelled).</summary>
    public void StartCrashTesting() => CrashTestingFrom = Media.Count;

    public static byte[] N(string s) => Encoding.UTF8.GetBytes(s);

    /// <summary>Bytes no other write produces: a hash of (seed, write number, position), never zero.</summary>
    public byte[] NewPattern(int length, long startPosition)
    {
        long id = ++_writeId + Seed * 1_000_003L;
        var b = new byte[length];
        for (int i = 0; i < length; i++)
        {
            ulong h = (ulong)id * 0x9E3779B97F4A7C15UL + (ulong)(startPosition + i) * 0xBF58476D1CE4E5B9UL;
            h ^= h >> 29;
            h *= 0x94D049BB133111EBUL;
            h ^= h >> 32;
            byte v = (byte)h;
            b[i] = v == 0 ? (byte)0x5A : v;
        }
        return b;
    }

    /// <summary>Runs one operation: markers, engine call, expected result, model update, live check.</summary>
    public Errno Do(string description, Func<FileSystem, Errno> op, Action<FsModel>? apply, Errno? expect = null, ulong inPlaceIno = 0)
    {
        int n = Operations.Count;
        Media.MarkOperationStart(n);
        var e = op(Fs);
        Media.MarkOperationReturned(n);
        var want = expect ?? Errno.Ok;
        if (want != AnyResult && e != want) throw new WorkloadException($"op {n} {description}: engine returned {e}, workload expected {want}");
        var next = Model.Clone();
        if (e == Errno.Ok) apply?.Invoke(next);
        Model = next;
        Snapshots.Add(next);
        Operations.Add(new OperationInfo(description + (e == Errno.Ok ? "" : $" -> {e}"), e == Errno.Ok ? inPlaceIno : 0));
        if (VerifyLive)
        {
            var seen = FsModel.Observe(Fs, out var accounting);
            string? diff = accounting ?? seen.DifferenceFrom(Model);
            if (diff is not null) throw new WorkloadException($"op {n} {description}: live file system differs from the model: {diff}");
        }
        return e;
    }

    // ---- operations ----

    public ulong Create(ulong parent, string name, Errno? expect = null) =>
        MakeNode($"create {Path(parent, name)}", parent, name,
            (FileSystem fs, out InodeAttributes a) => fs.Create(parent, N(name), 0x81A4, _who, out a),
            m => new FsNode { Kind = NodeKind.File, Flags = m.Nodes[parent].Flags & InodeFlags.Dax }, expect); // DAX is inherited

    public ulong Mkdir(ulong parent, string name, Errno? expect = null) =>
        MakeNode($"mkdir {Path(parent, name)}", parent, name,
            (FileSystem fs, out InodeAttributes a) => fs.MakeDirectory(parent, N(name), 0x1ED, _who, out a),
            m => new FsNode { Kind = NodeKind.Directory, Entries = new(StringComparer.Ordinal), Flags = m.Nodes[parent].Flags & InodeFlags.Dax }, expect);

    public ulong Symlink(ulong parent, string name, string target, Errno? expect = null) =>
        MakeNode($"symlink {Path(parent, name)} ({target.Length}-byte target)", parent, name,
            (FileSystem fs, out InodeAttributes a) => fs.Symlink(parent, N(name), N(target), _who, out a),
            _ => new FsNode { Kind = NodeKind.Symlink, Data = N(target) }, expect);

    public void Link(ulong ino, ulong parent, string name, Errno? expect = null) =>
        Do($"link {Describe(ino)} -> {Path(parent, name)}", fs => fs.Link(ino, parent, N(name), out _), m =>
        {
            m.Dir(parent).Entries![name] = ino;
            m.Nodes[ino].Nlink++;
        }, expect);

    public void Unlink(ulong parent, string name, Errno? expect = null) =>
        RemoveName($"unlink {Path(parent, name)}", parent, name, fs => fs.Unlink(parent, N(name)), (m, child) => m.DropLink(child), expect);

    public void Rmdir(ulong parent, string name, Errno? expect = null) =>
        RemoveName($"rmdir {Path(parent, name)}", parent, name, fs => fs.RemoveDirectory(parent, N(name)), (m, child) => m.Nodes.Remove(child), expect);

    public void Rename(ulong srcParent, string srcName, ulong dstParent, string dstName, RenameFlags flags = RenameFlags.None, Errno? expect = null) =>
        Do($"rename {Path(srcParent, srcName)} -> {Path(dstParent, dstName)}{(flags == RenameFlags.None ? "" : $" ({flags})")}",
            fs => fs.Rename(srcParent, N(srcName), dstParent, N(dstName), flags), m =>
            {
                var src = m.Dir(srcParent).Entries!;
                var dst = m.Dir(dstParent).Entries!;
                ulong child = src[srcName];
                dst.TryGetValue(dstName, out ulong target);
                if (target == child) return; // two names of one inode: nothing happens
                if (flags.HasFlag(RenameFlags.Exchange))
                {
                    src[srcName] = target;
                    dst[dstName] = child;
                    return;
                }
                if (target != 0) m.DropLink(target);
                src.Remove(srcName);
                dst[dstName] = child;
            }, expect);

    public void Write(ulong ino, long offset, int length, Errno? expect = null)
    {
        var data = NewPattern(length, offset);
        Do($"write {Describe(ino)} [{offset}, +{length})", fs => WriteAll(fs, ino, offset, data, WriteOrigin.Syscall), m =>
        {
            var f = m.Nodes[ino];
            var c = new byte[Math.Max(f.Data.Length, offset + length)];
            f.Data.CopyTo(c, 0);
            data.CopyTo(c, offset);
            f.Data = c;
        }, expect, inPlaceIno: ino);
    }

    /// <summary>Reflink of [srcOffset, +length) (0: to the source's end) onto dst at dstOffset.</summary>
    public void Clone(ulong src, long srcOffset, ulong dst, long dstOffset, long length, Errno? expect = null) =>
        Do($"clone {Describe(src)} [{srcOffset}, +{length}) -> {Describe(dst)} at {dstOffset}", fs => fs.CloneRange(src, srcOffset, dst, dstOffset, length, _who, 0, out _), m =>
        {
            var s = m.Nodes[src].Data;
            long n = length == 0 ? s.Length - srcOffset : Math.Min(length, s.Length - srcOffset);
            if (n <= 0) return; // nothing of the source there: nothing happens
            var d = m.Nodes[dst];
            var c = new byte[Math.Max(d.Data.Length, dstOffset + n)];
            d.Data.CopyTo(c, 0);
            s.AsSpan((int)srcOffset, (int)n).CopyTo(c.AsSpan((int)dstOffset));
            d.Data = c;
        }, expect);

    public void Truncate(ulong ino, long size, Errno? expect = null) =>
        Do($"truncate {Describe(ino)} to {size}", fs => fs.SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Size, Size = size }, _who, out _), m =>
        {
            var f = m.Nodes[ino];
            var c = new byte[size];
            f.Data.AsSpan(0, (int)Math.Min(size, f.Data.Length)).CopyTo(c);
            f.Data = c;
        }, expect);

    public void Fallocate(ulong ino, FallocateMode mode, long offset, long length, Errno? expect = null)
    {
        bool zeroes = mode.HasFlag(FallocateMode.PunchHole) || mode.HasFlag(FallocateMode.ZeroRange);
        Do($"fallocate {Describe(ino)} {mode} [{offset}, +{length})", fs => fs.Fallocate(ino, mode, offset, length, _who), m =>
        {
            var f = m.Nodes[ino];
            long size = mode.HasFlag(FallocateMode.KeepSize) ? f.Data.Length : Math.Max(f.Data.Length, offset + length);
            var c = new byte[size];
            f.Data.CopyTo(c, 0);
            if (zeroes)
                for (long i = offset; i < Math.Min(offset + length, c.Length); i++) c[i] = 0;
            f.Data = c;
        }, expect, inPlaceIno: zeroes ? ino : 0);
    }

    public void SetXattr(ulong ino, string name, int length, XattrSetFlags flags = XattrSetFlags.None, Errno? expect = null)
    {
        var value = NewPattern(length, 0);
        Do($"setxattr {Describe(ino)} {name} ({length} bytes{(flags == XattrSetFlags.None ? "" : ", " + flags)})",
            fs => fs.SetXattr(ino, N(name), value, flags), m => m.Nodes[ino].Xattrs[name] = value, expect);
    }

    public void RemoveXattr(ulong ino, string name, Errno? expect = null) =>
        Do($"removexattr {Describe(ino)} {name}", fs => fs.RemoveXattr(ino, N(name)), m => m.Nodes[ino].Xattrs.Remove(name), expect);

    /// <summary>chattr: one transaction; clearing DAX clears DAX_IMMUTABLE (rule 1).</summary>
    public void SetFlags(ulong ino, InodeFlags set, InodeFlags clear, Errno? expect = null) =>
        Do($"setflags {Describe(ino)} +{set} -{clear}", fs => fs.SetFlags(ino, set, clear, _who, out _), m =>
        {
            var n = m.Nodes[ino];
            var flags = (n.Flags | set) & ~clear;
            n.Flags = flags.HasFlag(InodeFlags.Dax) ? flags : flags & ~InodeFlags.DaxImmutable;
        }, expect);

    /// <summary>The kernel's writeback of a shared mapping: the only write a DAX_IMMUTABLE file takes, stored in place.</summary>
    public void MappedWriteback(ulong ino, long offset, int length, Errno? expect = null)
    {
        var data = NewPattern(length, offset);
        Do($"mapped writeback {Describe(ino)} [{offset}, +{length})", fs => WriteAll(fs, ino, offset, data, WriteOrigin.MappedWriteback), m =>
        {
            var c = (byte[])m.Nodes[ino].Data.Clone();
            data.CopyTo(c, offset);
            m.Nodes[ino].Data = c;
        }, expect, inPlaceIno: ino);
    }

    /// <summary>Opens <paramref name="ino"/> through <paramref name="handle"/> and takes a write lease on the whole file (memory only: nothing to crash).</summary>
    public void WriteLease(ulong ino, ulong handle, Errno? expect = null) =>
        Do($"open {Describe(ino)} as handle {handle} and take a write lease", fs =>
        {
            var e = fs.Open(ino, write: true, append: false);
            return e.Failed ? e : fs.Leases.Acquire(ino, handle, 1000 + (int)handle, LeaseMode.Write, FileRange.WholeFile, out _);
        }, null, expect);

    /// <summary>prepare-write: the file's bytes do not change (new and converted blocks read as zeros), its size may grow.</summary>
    public void PrepareWrite(ulong ino, ulong handle, long offset, long length, PrepareWriteFlags flags = PrepareWriteFlags.None, Errno? expect = null) =>
        Do($"prepare-write {Describe(ino)} [{offset}, +{length}){(flags == PrepareWriteFlags.None ? "" : $" ({flags})")} through handle {handle}",
            fs => fs.PrepareWrite(ino, handle, offset, length, flags, _who), m =>
            {
                var f = m.Nodes[ino];
                if (!flags.HasFlag(PrepareWriteFlags.ExtendSize) || offset + length <= f.Data.Length) return;
                var c = new byte[offset + length];
                f.Data.CopyTo(c, 0);
                f.Data = c;
            }, expect);

    /// <summary>
    /// What a direct-access holder does after prepare-write: stores into the region at the
    /// physical offsets of the extent map (no engine call, no metadata), flushes them and fences.
    /// Cut by a crash, each byte may be old or new; once it returned, all are new.
    /// </summary>
    public void StoreDirect(ulong ino, long offset, int length)
    {
        var data = NewPattern(length, offset);
        Do($"direct store {Describe(ino)} [{offset}, +{length}) + flush", fs =>
        {
            var map = new MappedExtent[16];
            var e = fs.GetExtentMap(ino, offset, length, map, out int n, out long next);
            if (e.Failed) return e;
            if (next >= 0) return Errno.E2BIG;
            long done = 0;
            foreach (var x in map.AsSpan(0, n))
            {
                long s = Math.Max(x.FileOffset, offset), t = Math.Min(x.FileEnd, offset + length);
                if (s >= t) continue;
                if (x.State != PmemFs.Engine.Mapping.ExtentState.Written) return Errno.EIO; // not prepared: a store there would not be durable
                long at = x.PhysicalOffset + (s - x.FileOffset);
                Media.Write(at, data.AsSpan((int)(s - offset), (int)(t - s)));
                Media.Flush(at, t - s);
                done += t - s;
            }
            Media.Drain();
            return done == length ? Errno.Ok : Errno.EIO;
        }, m =>
        {
            var c = (byte[])m.Nodes[ino].Data.Clone();
            data.CopyTo(c, offset);
            m.Nodes[ino].Data = c;
        }, inPlaceIno: ino);
    }

    private delegate Errno MakeCall(FileSystem fs, out InodeAttributes attributes);

    /// <summary>Create, mkdir, symlink: the engine makes a node under a new name; the model gets the name and <paramref name="node"/>.</summary>
    private ulong MakeNode(string description, ulong parent, string name, MakeCall make, Func<FsModel, FsNode> node, Errno? expect)
    {
        ulong ino = 0;
        Do(description, fs =>
        {
            var e = make(fs, out var a);
            ino = a.Ino;
            return e;
        }, m =>
        {
            m.Dir(parent).Entries![name] = ino;
            m.Nodes[ino] = node(m);
        }, expect);
        return ino;
    }

    /// <summary>Unlink, rmdir: the engine removes a name; the model drops it and then lets <paramref name="release"/> deal with its inode.</summary>
    private void RemoveName(string description, ulong parent, string name, Func<FileSystem, Errno> remove, Action<FsModel, ulong> release, Errno? expect) =>
        Do(description, remove, m =>
        {
            var entries = m.Dir(parent).Entries!;
            ulong child = entries[name];
            entries.Remove(name);
            release(m, child);
        }, expect);

    /// <summary>A write of all of <paramref name="data"/>: a short write is an EIO.</summary>
    private Errno WriteAll(FileSystem fs, ulong ino, long offset, byte[] data, WriteOrigin origin)
    {
        var e = fs.Write(ino, offset, data, _who, out int n, origin);
        return e == Errno.Ok && n != data.Length ? Errno.EIO : e;
    }

    private string Path(ulong parent, string name) => (parent == Root ? "" : Describe(parent)) + "/" + name;

    private string Describe(ulong ino) => FsModel.Describe(Model, ino);

    public void Dispose()
    {
        Fs.Dispose();
        Media.Dispose();
    }
}
