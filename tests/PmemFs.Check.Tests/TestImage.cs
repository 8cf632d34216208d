using System.Text;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.Check.Tests;

/// <summary>
/// An image built by the real engine on an in-memory media, plus raw access to its tables
/// (through the Format layer) for deliberate corruption.
/// </summary>
public sealed class TestImage : IDisposable
{
    public const ulong Root = FormatConstants.RootIno;
    public const uint FileMode = 0x81A4; // -rw-r--r--
    public const uint DirMode = 0x1ED;   // 0755
    private const int Bs = FormatConstants.BlockSize;

    public TestImage(long size = 64L << 20, long? inodes = null)
    {
        Media = new MemoryMedia(size);
        Mkfs.Format(Media, new MkfsOptions { InodeCount = inodes });
        Fs = FileSystem.Mount(Media);
    }

    private TestImage(MemoryMedia media) => Media = media;

    /// <summary>A fresh image whose file system is mounted through <paramref name="wrap"/> (a decorator over the memory).</summary>
    public static TestImage MountedThrough(Func<MemoryMedia, IMedia> wrap, out IMedia mountedOn, long size = 64L << 20)
    {
        var img = new TestImage(new MemoryMedia(size));
        Mkfs.Format(img.Media, new MkfsOptions());
        mountedOn = wrap(img.Media);
        img.Fs = FileSystem.Mount(mountedOn);
        return img;
    }

    /// <summary>Raw access to an image that some other code built (not mounted here).</summary>
    public static TestImage Over(MemoryMedia media) => new(media);

    /// <summary>A copy of the media as it is right now, as if the process had died here.</summary>
    public TestImage CrashCopy() => new(MemoryMedia.CopyOf(Media)) { Inos = new Dictionary<string, ulong>(Inos) };

    /// <summary>Sets the file type bits of <paramref name="ino"/>'s mode to 0xF (no such type) and reseals the record, so only the structural check can catch it.</summary>
    public void SetImpossibleFileType(ulong ino)
    {
        var span = InodeBytes(ino);
        span[21] = (byte)((span[21] & 0x0F) | 0xF0);
        Checksum.SealRecord(span);
    }

    /// <summary>What <see cref="CrashedWithLateFile"/> wrote into "late".</summary>
    public static byte[] LateContent => Pattern(3 * Bs, 5);

    /// <summary>
    /// A populated image, then a file "late" in the root with <see cref="LateContent"/> (three
    /// written blocks), then a crash: the copy's log holds every transaction since mount, all of
    /// them already applied in place.
    /// </summary>
    public static TestImage CrashedWithLateFile(out ulong late)
    {
        using var img = new TestImage().Populate();
        late = img.File(Root, "late");
        img.Write(late, 0, LateContent);
        return img.CrashCopy();
    }

    public MemoryMedia Media { get; }
    public FileSystem? Fs { get; private set; }
    public Geometry G => ImageReader.ReadSuperblock(Media, "test").Superblock.Geometry;

    /// <summary>Names of what <see cref="Populate"/> made, to find their inodes again.</summary>
    public Dictionary<string, ulong> Inos { get; private init; } = [];

    private FileSystem Mounted => Fs ?? throw new InvalidOperationException("the file system is unmounted");

    /// <summary>Clean unmount: what fsck sees afterwards is what the engine left on the media.</summary>
    public TestImage Unmount()
    {
        Fs?.Dispose();
        Fs = null;
        return this;
    }

    public FsckReport Check(FsckOptions? options = null) => Fsck.Check(Media, options ?? new FsckOptions());

    public static byte[] N(string name) => Encoding.UTF8.GetBytes(name);

    public static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    // ---- building with the engine ----

    public ulong File(ulong parent, string name, uint mode = FileMode)
    {
        Assert.Equal(Errno.Ok, Mounted.Create(parent, N(name), mode, Credentials.Root, out var a));
        return a.Ino;
    }

    public ulong Dir(ulong parent, string name)
    {
        Assert.Equal(Errno.Ok, Mounted.MakeDirectory(parent, N(name), DirMode, Credentials.Root, out var a));
        return a.Ino;
    }

    public ulong Symlink(ulong parent, string name, string target)
    {
        Assert.Equal(Errno.Ok, Mounted.Symlink(parent, N(name), N(target), Credentials.Root, out var a));
        return a.Ino;
    }

    public void Write(ulong ino, long offset, byte[] data)
    {
        Assert.Equal(Errno.Ok, Mounted.Write(ino, offset, data, Credentials.Root, out int n));
        Assert.Equal(data.Length, n);
    }

    public void Do(Errno e) => Assert.Equal(Errno.Ok, e);

    public FileSystem Engine => Mounted;

    /// <summary>
    /// A bit of everything the engine can put on the media: directories at depth, files with
    /// data, holes, preallocated and KEEP_SIZE unwritten extents, punched and zeroed ranges,
    /// truncation, symlinks (short and long), hard links, a fifo, xattrs (small and multi-block,
    /// on files and directories, replaced and removed), renames of every kind, unlinks, rmdir.
    /// </summary>
    public TestImage Populate()
    {
        var fs = Mounted;
        var who = Credentials.Root;
        ulong docs = Inos["docs"] = Dir(Root, "docs");
        ulong empty = Inos["empty"] = Dir(Root, "empty");
        ulong deep = Inos["deep"] = Dir(Root, "deep");
        ulong deeper = Inos["deeper"] = Dir(deep, "deeper");
        Inos["deepest"] = Dir(deeper, "deepest");

        ulong a = Inos["a.txt"] = File(docs, "a.txt");
        Write(a, 0, Pattern(10_000, 1));
        ulong sparse = Inos["sparse"] = File(docs, "sparse");
        Write(sparse, 0, Pattern(Bs, 2));
        Write(sparse, 1 << 20, Pattern(Bs, 3));
        ulong prealloc = Inos["prealloc"] = File(docs, "prealloc");
        Do(fs.Fallocate(prealloc, FallocateMode.Default, 0, 64 * 1024, who));
        Write(prealloc, 4096 * 3 + 10, Pattern(100, 4));
        ulong keep = Inos["keep"] = File(docs, "keep");
        Write(keep, 0, Pattern(10, 5));
        Do(fs.Fallocate(keep, FallocateMode.KeepSize, 0, 32 * 1024, who));
        ulong punched = Inos["punched"] = File(docs, "punched");
        Write(punched, 0, Pattern(4 * Bs, 6));
        Do(fs.Fallocate(punched, FallocateMode.KeepSize | FallocateMode.PunchHole, Bs, Bs, who));
        ulong zeroed = Inos["zeroed"] = File(docs, "zeroed");
        Write(zeroed, 0, Pattern(4 * Bs, 7));
        Do(fs.Fallocate(zeroed, FallocateMode.ZeroRange, 100, 2 * Bs, who));
        ulong truncated = Inos["truncated"] = File(docs, "truncated");
        Write(truncated, 0, Pattern(5 * Bs, 8));
        Do(fs.SetAttr(truncated, new SetAttrRequest { Fields = SetAttrFields.Size, Size = 5000 }, who, out _));
        Do(fs.SetAttr(truncated, new SetAttrRequest { Fields = SetAttrFields.Size, Size = 9 * Bs }, who, out _));

        Do(fs.Link(a, Root, N("link-to-a"), out _));
        Do(fs.Link(a, deeper, N("another-link"), out _));
        Inos["sym"] = Symlink(Root, "sym", "docs/a.txt");
        Inos["longsym"] = Symlink(deep, "longsym", new string('x', 3000));
        Inos["fifo"] = File(empty, "fifo", 0x11A4);

        ulong x = Inos["xfile"] = File(Root, "xfile");
        Do(fs.SetXattr(x, N("user.small"), N("value"), XattrSetFlags.None));
        Do(fs.SetXattr(x, N("user.big"), Pattern(10_000, 9), XattrSetFlags.None));
        Do(fs.SetXattr(docs, N("user.dir"), N("on a directory"), XattrSetFlags.None));
        Do(fs.SetXattr(deep, N("user.gone"), N("soon"), XattrSetFlags.None));
        Do(fs.RemoveXattr(deep, N("user.gone")));

        // Renames: in place, across directories, a directory, over an existing file, exchange.
        ulong old = File(Root, "old");
        Write(old, 0, Pattern(3000, 10));
        Do(fs.Rename(Root, N("old"), Root, N("new")));
        Inos["new"] = old;
        Do(fs.Rename(Root, N("new"), docs, N("moved")));
        Do(fs.Rename(deep, N("deeper"), empty, N("deeper-moved")));
        ulong victim = File(docs, "victim");
        Write(victim, 0, Pattern(5000, 11));
        ulong replacer = Inos["replacer"] = File(docs, "replacer");
        Write(replacer, 0, Pattern(2000, 12));
        Do(fs.Rename(docs, N("replacer"), docs, N("victim")));
        Inos["swapdir"] = Dir(deep, "swapdir");
        Do(fs.Rename(deep, N("swapdir"), docs, N("moved"), RenameFlags.Exchange));

        // Unlinks: a file with data, a hard link, an empty directory.
        ulong doomed = File(Root, "doomed");
        Write(doomed, 0, Pattern(20_000, 13));
        Do(fs.Unlink(Root, N("doomed")));
        Do(fs.Unlink(Root, N("link-to-a")));
        Dir(Root, "gone");
        Do(fs.RemoveDirectory(Root, N("gone")));
        return this;
    }

    // ---- raw table access (through the Format layer) ----

    public Span<byte> InodeBytes(ulong ino) => Media.RawBytes(G.InodeOffset(Geometry.SlotOfIno(ino)), DiskInode.Size);

    public InodeRecord ReadInode(ulong ino)
    {
        Assert.True(DiskInode.VerifyRead(InodeBytes(ino), ino, out var r).IsOk);
        return r;
    }

    public void WriteInode(InodeRecord r) => DiskInode.Seal(r, InodeBytes(r.Ino));

    public Span<byte> DirentBytes(long slot) => Media.RawBytes(G.DirentOffset(slot), DiskDirent.Size);

    public long DirentSlot(ulong parent, string name)
    {
        var g = G;
        for (long slot = 0; slot < g.DirentCount; slot++)
            if (DiskDirent.VerifyRead(DirentBytes(slot), slot, out var d).IsOk && d.Parent == parent && d.Name.AsSpan().SequenceEqual(N(name)))
                return slot;
        throw new InvalidOperationException($"no entry {name} in {parent}");
    }

    public long FreeDirentSlot()
    {
        var g = G;
        for (long slot = g.DirentCount - 1; slot >= 0; slot--)
            if (DiskDirent.VerifyRead(DirentBytes(slot), slot, out _).Verdict == Verdict.Empty) return slot;
        throw new InvalidOperationException("dirent table is full");
    }

    public Span<byte> ExtentBytes(long slot) => Media.RawBytes(G.ExtentOffset(slot), DiskExtent.Size);

    public List<(long Slot, ExtentRecord Rec)> Extents(ulong ino)
    {
        var g = G;
        var list = new List<(long, ExtentRecord)>();
        for (long slot = 0; slot < g.ExtentCount; slot++)
            if (DiskExtent.VerifyRead(ExtentBytes(slot), slot, out var e).IsOk && e.Ino == ino) list.Add((slot, e));
        list.Sort((x, y) => x.Item2.FileBlock.CompareTo(y.Item2.FileBlock));
        return list;
    }

    public void WriteExtent(long slot, ExtentRecord e) => DiskExtent.Seal(e, ExtentBytes(slot));

    public Span<byte> RmapBytes(long slot) => Media.RawBytes(G.RmapOffset(slot), DiskRmap.Size);

    public (long Slot, RmapRecord Rec) Rmap(Func<RmapRecord, bool> match)
    {
        var g = G;
        for (long slot = 0; slot < g.RmapCount; slot++)
            if (DiskRmap.VerifyRead(RmapBytes(slot), slot, out var r).IsOk && match(r)) return (slot, r);
        throw new InvalidOperationException("no such rmap record");
    }

    public (long Slot, RmapRecord Rec) RmapTwin(ExtentRecord e) =>
        Rmap(r => r.Kind == RmapOwnerKind.InodeData && r.Owner == e.Ino && r.FileBlock == e.FileBlock);

    public void WriteRmap(long slot, RmapRecord r) => DiskRmap.Seal(r, RmapBytes(slot));

    /// <summary>Reference-count records in the rmap table, by slot.</summary>
    public List<(long Slot, RefcountRecord Rec)> Refcounts()
    {
        var g = G;
        var list = new List<(long, RefcountRecord)>();
        for (long slot = 0; slot < g.RmapCount; slot++)
            if (DiskRefcount.IsRefcountSlot(RmapBytes(slot)) && DiskRefcount.VerifyRead(RmapBytes(slot), slot, out var r).IsOk) list.Add((slot, r));
        return list;
    }

    public void WriteRefcount(long slot, RefcountRecord r) => DiskRefcount.Seal(r, RmapBytes(slot));

    /// <summary>An empty rmap-table slot (highest first).</summary>
    public long FreeRmapSlot()
    {
        var g = G;
        for (long slot = g.RmapCount - 1; slot >= 0; slot--)
            if (RmapBytes(slot).IndexOfAnyExcept((byte)0) < 0) return slot;
        throw new InvalidOperationException("rmap table is full");
    }

    /// <summary>
    /// Makes <paramref name="e"/> (an extent of some file, with its twin) map <paramref name="phys"/>
    /// instead, as a reflink would leave it: extent and twin rewritten, the blocks it mapped before
    /// marked free. The reference counts are left to the caller.
    /// </summary>
    public void Remap((long Slot, ExtentRecord Rec) e, long phys)
    {
        var twin = RmapTwin(e.Rec);
        WriteExtent(e.Slot, e.Rec with { PhysBlock = phys });
        WriteRmap(twin.Slot, twin.Rec with { PhysBlock = phys });
        for (long b = e.Rec.PhysBlock; b < e.Rec.PhysEnd; b++) SetBit(b, false);
    }

    /// <summary>Sets the format version in both superblock copies.</summary>
    public void SetVersion(uint version)
    {
        var sb = ImageReader.ReadSuperblock(Media, "test").Superblock with { Version = version };
        ImageReader.WriteSuperblock(Media, sb, SuperblockCopy.Primary);
        ImageReader.WriteSuperblock(Media, sb, SuperblockCopy.Secondary);
    }

    public uint Version => ImageReader.ReadSuperblock(Media, "test").Superblock.Version;

    public bool Bit(long block) => FreeSpaceBitmap.IsSet(Media, G, block);

    public void SetBit(long block, bool set) => FreeSpaceBitmap.ApplyRange(Media, G, block, 1, set);

    /// <summary>A free data block (highest first, far from anything the engine allocated).</summary>
    public long FreeDataBlock()
    {
        var g = G;
        for (long b = g.DataEnd - 1; b >= g.DataStart; b--)
            if (!Bit(b)) return b;
        throw new InvalidOperationException("no free block");
    }

    public void Dispose()
    {
        Fs?.Dispose();
        Media.Dispose();
    }
}

/// <summary>Assertions on reports that print the whole report when they fail.</summary>
public static class ReportAssert
{
    public static void Clean(FsckReport report)
    {
        Assert.True(report.IsClean, "expected a clean report, got:\n" + Render(report));
    }

    /// <summary>Some problem at <paramref name="where"/> whose message contains <paramref name="text"/>.</summary>
    public static FsckProblem Has(FsckReport report, string where, string text)
    {
        var p = report.Problems.FirstOrDefault(p => p.Where == where && p.Message.Contains(text, StringComparison.Ordinal));
        Assert.True(p is not null, $"expected a problem at \"{where}\" containing \"{text}\", got:\n" + Render(report));
        return p!;
    }

    public static string Render(FsckReport report) =>
        string.Join("\n", report.Problems.Select(p => "  problem: " + p).Concat(report.Notes.Select(n => "  note: " + n)))
        + $"\n  stats: {report.Stats}";
}
