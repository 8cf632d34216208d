using System.Text;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.Fuzz.Tests;

/// <summary>A realistic image to corrupt: built by mkfs and the real engine, kept as bytes.</summary>
public sealed record BaseImage(string Name, byte[] Bytes, ImageMap Map);

/// <summary>
/// The base images the fuzzer corrupts, built once per process: 16 MiB regions (the smallest
/// mkfs accepts, so every corrupted copy is cheap) holding a populated tree, some cleanly
/// unmounted and some copied while mounted (a journal with committed transactions to replay).
/// </summary>
public static class BaseImages
{
    public const long Size = 16L << 20;
    private const int Bs = FormatConstants.BlockSize;
    private static readonly Credentials Who = Credentials.Root;
    private static readonly Lazy<IReadOnlyList<BaseImage>> LazyAll = new(Build);

    public static IReadOnlyList<BaseImage> All => LazyAll.Value;

    public static BaseImage Get(string name) => All.Concat(Shared).First(b => b.Name == name);

    private static readonly Lazy<IReadOnlyList<BaseImage>> LazyShared = new(() => [MakeShared()]);

    /// <summary>
    /// Images with shared extents (format version 2): the reference-count corruptions work on
    /// these. They are not in <see cref="All"/> while this build's engine cannot mount them
    /// (<see cref="Oracle.EngineMountsSharedImages"/>; its support is merged separately).
    /// </summary>
    public static IReadOnlyList<BaseImage> Shared => LazyShared.Value;

    /// <summary>
    /// The populated tree, then sharing written into its tables as a reflink would leave it:
    /// small-0 and small-1 map a.txt's second block (count 3 there), small-2 maps a.txt's first
    /// block (count 2); their old blocks are freed. Every sharer keeps its twin owner record.
    /// </summary>
    private static BaseImage MakeShared()
    {
        var tree = Make("shared", Populate, crash: false);
        using var media = MemoryMedia.FromBytes(tree.Bytes);
        var map = tree.Map;
        var g = map.G;
        ulong Ino(string name) => map.Dirents.First(d => d.Rec.Name.AsSpan().SequenceEqual(N(name))).Rec.Child;
        var a = map.Extents.First(e => e.Rec.Ino == Ino("a.txt")).Rec;
        if (a.BlockCount < 2) throw new InvalidOperationException("a.txt should be one extent of 3 blocks");
        void Remap(string name, long phys)
        {
            var (slot, e) = map.Extents.Single(x => x.Rec.Ino == Ino(name));
            if (e.BlockCount != 1) throw new InvalidOperationException($"{name} should be one block");
            var twin = map.Rmaps.Single(r => r.Rec.Kind == RmapOwnerKind.InodeData && r.Rec.Owner == e.Ino && r.Rec.FileBlock == e.FileBlock);
            DiskExtent.Seal(e with { PhysBlock = phys }, media.RawBytes(slot.Offset, DiskExtent.Size));
            DiskRmap.Seal(twin.Rec with { PhysBlock = phys }, media.RawBytes(twin.Slot.Offset, DiskRmap.Size));
            FreeSpaceBitmap.ApplyRange(media, g, e.PhysBlock, 1, false);
        }
        Remap("small-0", a.PhysBlock + 1);
        Remap("small-1", a.PhysBlock + 1);
        Remap("small-2", a.PhysBlock);
        var freeSlots = map.EmptyRmapSlots;
        DiskRefcount.Seal(new RefcountRecord(a.PhysBlock, 1, 2), media.RawBytes(g.RmapOffset(freeSlots[0]), DiskRefcount.Size));
        DiskRefcount.Seal(new RefcountRecord(a.PhysBlock + 1, 1, 3), media.RawBytes(g.RmapOffset(freeSlots[1]), DiskRefcount.Size));
        var bytes = media.Read(0, (int)Size).ToArray();
        return new BaseImage("shared", bytes, ImageMap.Parse(bytes));
    }

    private static List<BaseImage> Build()
    {
        return
        [
            Make("empty", fs => { }, crash: false),
            Make("tree", Populate, crash: false),
            Make("tree-journal", Populate, crash: true),
            Make("orphan-journal", fs => { Populate(fs); MakeOrphan(fs); }, crash: true),
            Make("fragmented", Fragmented, crash: false),
            Make("tiny-tables", Populate, crash: true, inodes: 48),
        ];
    }

    private static BaseImage Make(string name, Action<FileSystem> build, bool crash, long? inodes = null)
    {
        using var media = new MemoryMedia(Size);
        Mkfs.Format(media, new MkfsOptions { Label = name, InodeCount = inodes });
        var fs = FileSystem.Mount(media);
        build(fs);
        byte[] bytes;
        if (crash)
        {
            // Copied while mounted, as if the process died here: committed transactions since the
            // mount's checkpoint are still in the log, for replay.
            bytes = media.Read(0, (int)Size).ToArray();
            fs.Dispose();
        }
        else
        {
            fs.Dispose();
            bytes = media.Read(0, (int)Size).ToArray();
        }
        return new BaseImage(name, bytes, ImageMap.Parse(bytes));
    }

    public static byte[] N(string s) => Encoding.UTF8.GetBytes(s);

    public static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static void Ok(Errno e, string what)
    {
        if (e != Errno.Ok) throw new InvalidOperationException($"building a base image: {what} failed with {e}");
    }

    private static ulong File(FileSystem fs, ulong parent, string name, uint mode = 0x81A4)
    {
        Ok(fs.Create(parent, N(name), mode, Who, out var a), $"create {name}");
        return a.Ino;
    }

    private static ulong Dir(FileSystem fs, ulong parent, string name)
    {
        Ok(fs.MakeDirectory(parent, N(name), 0x1ED, Who, out var a), $"mkdir {name}");
        return a.Ino;
    }

    private static void Write(FileSystem fs, ulong ino, long offset, byte[] data)
    {
        Ok(fs.Write(ino, offset, data, Who, out int n), "write");
        if (n != data.Length) throw new InvalidOperationException("short write");
    }

    /// <summary>Files with data, holes, unwritten extents, xattrs, symlinks, hard links, nested dirs.</summary>
    public static void Populate(FileSystem fs)
    {
        const ulong root = FormatConstants.RootIno;
        ulong docs = Dir(fs, root, "docs");
        ulong deep = Dir(fs, root, "deep");
        ulong deeper = Dir(fs, deep, "deeper");
        ulong deepest = Dir(fs, deeper, "deepest");
        Dir(fs, deepest, "leaf");
        ulong empty = Dir(fs, root, "empty");

        ulong a = File(fs, docs, "a.txt");
        Write(fs, a, 0, Pattern(10_000, 1));
        ulong sparse = File(fs, docs, "sparse");
        Write(fs, sparse, 0, Pattern(Bs, 2));
        Write(fs, sparse, 1 << 20, Pattern(Bs, 3));
        ulong prealloc = File(fs, docs, "prealloc");
        Ok(fs.Fallocate(prealloc, FallocateMode.Default, 0, 64 * 1024, Who), "fallocate");
        Write(fs, prealloc, Bs * 3 + 10, Pattern(100, 4));
        ulong keep = File(fs, docs, "keep");
        Write(fs, keep, 0, Pattern(10, 5));
        Ok(fs.Fallocate(keep, FallocateMode.KeepSize, 0, 32 * 1024, Who), "fallocate keep");
        ulong punched = File(fs, docs, "punched");
        Write(fs, punched, 0, Pattern(4 * Bs, 6));
        Ok(fs.Fallocate(punched, FallocateMode.KeepSize | FallocateMode.PunchHole, Bs, Bs, Who), "punch");
        ulong truncated = File(fs, deeper, "truncated");
        Write(fs, truncated, 0, Pattern(5 * Bs, 8));
        Ok(fs.SetAttr(truncated, new SetAttrRequest { Fields = SetAttrFields.Size, Size = 5000 }, Who, out _), "truncate");

        Ok(fs.Link(a, root, N("link-to-a"), out _), "link");
        Ok(fs.Link(a, deepest, N("another-link"), out _), "link");
        Ok(fs.Symlink(root, N("sym"), N("docs/a.txt"), Who, out _), "symlink");
        Ok(fs.Symlink(deep, N("longsym"), N(new string('x', 3000)), Who, out _), "symlink");
        File(fs, empty, "fifo", 0x11A4);
        File(fs, docs, "zero-length");

        ulong x = File(fs, root, "xfile");
        Write(fs, x, 0, Pattern(300, 9));
        Ok(fs.SetXattr(x, N("user.small"), N("value"), XattrSetFlags.None), "setxattr");
        Ok(fs.SetXattr(x, N("user.big"), Pattern(10_000, 9), XattrSetFlags.None), "setxattr");
        Ok(fs.SetXattr(docs, N("user.dir"), N("on a directory"), XattrSetFlags.None), "setxattr");
        Ok(fs.SetXattr(deep, N("user.gone"), N("soon"), XattrSetFlags.None), "setxattr");
        Ok(fs.RemoveXattr(deep, N("user.gone")), "removexattr");

        ulong old = File(fs, root, "old");
        Write(fs, old, 0, Pattern(3000, 10));
        Ok(fs.Rename(root, N("old"), docs, N("moved")), "rename");
        ulong doomed = File(fs, root, "doomed");
        Write(fs, doomed, 0, Pattern(20_000, 13));
        Ok(fs.Unlink(root, N("doomed")), "unlink");
        Dir(fs, root, "gone");
        Ok(fs.RemoveDirectory(root, N("gone")), "rmdir");
        for (int i = 0; i < 12; i++)
        {
            ulong f = File(fs, docs, $"small-{i}");
            Write(fs, f, 0, Pattern(100 + i * 700, 100 + i));
        }
    }

    /// <summary>An unlinked file the kernel still references: nlink 0, freed by the next mount.</summary>
    private static void MakeOrphan(FileSystem fs)
    {
        ulong o = File(fs, FormatConstants.RootIno, "orphan");
        Write(fs, o, 0, Pattern(3 * Bs + 5, 20));
        fs.Retain(o);
        Ok(fs.Unlink(FormatConstants.RootIno, N("orphan")), "unlink orphan");
    }

    /// <summary>A file of many one-block extents, and a directory of many entries.</summary>
    private static void Fragmented(FileSystem fs)
    {
        const ulong root = FormatConstants.RootIno;
        ulong f = File(fs, root, "frag");
        for (int i = 0; i < 200; i++) Write(fs, f, 2L * i * Bs, Pattern(Bs, 1000 + i));
        ulong u = File(fs, root, "unwritten");
        Ok(fs.Fallocate(u, FallocateMode.Default, 0, 40 * Bs, Who), "fallocate");
        for (int i = 0; i < 40; i += 3) Write(fs, u, (long)i * Bs + 7, Pattern(50, 2000 + i));
        ulong many = Dir(fs, root, "many");
        for (int i = 0; i < 150; i++) File(fs, many, $"entry-{i:D3}");
        ulong sub = Dir(fs, many, "sub");
        Ok(fs.Symlink(sub, N("up"), N("../entry-001"), Who, out _), "symlink");
    }
}
