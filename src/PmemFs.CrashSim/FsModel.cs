using System.Text;
using PmemFs.Engine;
using PmemFs.Format;

namespace PmemFs.CrashSim;

public enum NodeKind { File, Directory, Symlink }

/// <summary>One inode of the model. Byte arrays are never changed in place (snapshots share them).</summary>
public sealed class FsNode
{
    public NodeKind Kind { get; init; }

    /// <summary>Links of a file or symlink (a directory's count is derived from its entries).</summary>
    public int Nlink { get; set; } = 1;

    /// <summary>File contents, or a symlink's target.</summary>
    public byte[] Data { get; set; } = [];

    public Dictionary<string, byte[]> Xattrs { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Persisted per-inode flags (immutable, dax, dax_immutable, ...).</summary>
    public InodeFlags Flags { get; set; }

    public SortedDictionary<string, ulong>? Entries { get; set; }

    public FsNode Clone() => new()
    {
        Kind = Kind,
        Nlink = Nlink,
        Data = Data,
        Flags = Flags,
        Xattrs = new Dictionary<string, byte[]>(Xattrs, StringComparer.Ordinal),
        Entries = Entries is null ? null : new SortedDictionary<string, ulong>(Entries, StringComparer.Ordinal),
    };
}

/// <summary>
/// What the file system should contain: inodes by number (the engine's numbers, as the live run
/// returned them), names, contents, link counts, xattrs. Also built from a mounted file system
/// (<see cref="Observe"/>) to compare with.
/// </summary>
public sealed class FsModel
{
    public const ulong Root = FormatConstants.RootIno;

    public Dictionary<ulong, FsNode> Nodes { get; } = [];

    public static FsModel Empty()
    {
        var m = new FsModel();
        m.Nodes[Root] = new FsNode { Kind = NodeKind.Directory, Entries = new(StringComparer.Ordinal) };
        return m;
    }

    public FsModel Clone()
    {
        var m = new FsModel();
        foreach (var (ino, n) in Nodes) m.Nodes[ino] = n.Clone();
        return m;
    }

    public FsNode Dir(ulong ino) => Nodes[ino].Kind == NodeKind.Directory ? Nodes[ino] : throw new InvalidOperationException($"{ino} is not a directory");

    public int DirLinks(FsNode dir) => 2 + dir.Entries!.Values.Count(c => Nodes.TryGetValue(c, out var n) && n.Kind == NodeKind.Directory);

    /// <summary>Removes one name of <paramref name="child"/>; frees it with its last link (or when it is a directory).</summary>
    public void DropLink(ulong child)
    {
        var n = Nodes[child];
        if (n.Kind == NodeKind.Directory || --n.Nlink == 0) Nodes.Remove(child);
    }

    /// <summary>Whether directory <paramref name="dir"/> is <paramref name="ancestor"/> or below it.</summary>
    public bool IsUnder(ulong dir, ulong ancestor)
    {
        for (int guard = 0; guard < 10_000; guard++)
        {
            if (dir == ancestor) return true;
            if (dir == Root) return false;
            ulong parent = 0;
            foreach (var (ino, n) in Nodes)
                if (n.Entries is not null && n.Entries.ContainsValue(dir)) { parent = ino; break; }
            if (parent == 0) return false;
            dir = parent;
        }
        return false;
    }

    /// <summary>Reads everything reachable from the root of a mounted file system, plus a space and inode accounting check.</summary>
    public static FsModel Observe(FileSystem fs, out string? accountingProblem)
    {
        var m = new FsModel();
        var queue = new Queue<ulong>();
        queue.Enqueue(Root);
        long blocksHeld = 0;
        var dirLinks = new Dictionary<ulong, uint>();
        while (queue.Count > 0)
        {
            ulong ino = queue.Dequeue();
            if (m.Nodes.ContainsKey(ino)) continue;
            Ok(fs.GetAttr(ino, out var a), $"getattr {ino}");
            blocksHeld += a.Blocks512 / (FormatConstants.BlockSize / 512);
            var node = new FsNode { Kind = a.IsDirectory ? NodeKind.Directory : a.FileType == FileTypes.Symlink ? NodeKind.Symlink : NodeKind.File, Nlink = (int)a.Nlink, Flags = a.Flags };
            m.Nodes[ino] = node;
            if (node.Kind == NodeKind.Directory)
            {
                dirLinks[ino] = a.Nlink;
                node.Entries = new(StringComparer.Ordinal);
                var items = new List<(string, ulong)>();
                Ok(fs.ReadDirectory(ino, 0, item =>
                {
                    string s = Encoding.UTF8.GetString(item.Name);
                    if (s is not "." and not "..") items.Add((s, item.Ino));
                    return true;
                }), $"readdir {ino}");
                foreach (var (s, child) in items)
                {
                    node.Entries[s] = child;
                    queue.Enqueue(child);
                }
            }
            else if (node.Kind == NodeKind.Symlink)
            {
                Ok(fs.ReadLink(ino, out var target), $"readlink {ino}");
                node.Data = target;
            }
            else
            {
                var buf = new byte[a.Size];
                Ok(fs.Read(ino, 0, buf, out int n), $"read {ino}");
                if (n != buf.Length) throw new InvalidDataException($"inode {ino}: read {n} of {buf.Length} bytes");
                node.Data = buf;
            }
            Ok(fs.ListXattr(ino, out var names), $"listxattr {ino}");
            foreach (var name in names)
            {
                Ok(fs.GetXattr(ino, name, out var value), $"getxattr {ino}");
                node.Xattrs[Encoding.UTF8.GetString(name)] = value;
            }
        }
        var sf = fs.StatFs();
        accountingProblem = null;
        long inodesUsed = sf.TotalInodes - sf.FreeInodes;
        long blocksUsed = sf.TotalBlocks - sf.FreeBlocks;
        // A shared block is in use once but held by every file that maps it.
        blocksHeld -= fs.SharingUsage.ExtraReferences;
        if (inodesUsed != m.Nodes.Count) accountingProblem = $"{inodesUsed} inodes in use, {m.Nodes.Count} reachable (leaked inode)";
        else if (blocksUsed != blocksHeld) accountingProblem = $"{blocksUsed} data blocks in use, reachable inodes hold {blocksHeld} (leaked or doubly used space)";
        foreach (var (ino, links) in dirLinks)
            if (links != m.DirLinks(m.Nodes[ino])) accountingProblem ??= $"directory {ino} has link count {links}, {m.DirLinks(m.Nodes[ino])} expected from its entries";
        return m;
    }

    private static void Ok(Errno e, string what)
    {
        if (e != Errno.Ok) throw new InvalidDataException($"{what}: {e}");
    }

    /// <summary>
    /// The first difference between this (observed) and <paramref name="expected"/>, or null.
    /// When <paramref name="relaxIno"/> is set, that file's bytes may each be either the expected
    /// byte or the one in <paramref name="relaxOther"/> (an in-place overwrite cut by the crash).
    /// </summary>
    public string? DifferenceFrom(FsModel expected, ulong relaxIno = 0, byte[]? relaxOther = null)
    {
        foreach (var ino in expected.Nodes.Keys)
            if (!Nodes.ContainsKey(ino)) return $"inode {ino} ({Describe(expected, ino)}) is missing";
        foreach (var ino in Nodes.Keys)
            if (!expected.Nodes.ContainsKey(ino)) return $"inode {ino} ({Describe(this, ino)}) should not exist";
        foreach (var (ino, want) in expected.Nodes)
        {
            var got = Nodes[ino];
            string where = $"inode {ino} ({Describe(expected, ino)})";
            if (got.Kind != want.Kind) return $"{where}: is a {got.Kind}, expected a {want.Kind}";
            if (got.Flags != want.Flags) return $"{where}: flags {got.Flags}, expected {want.Flags}";
            if (want.Kind == NodeKind.Directory)
            {
                foreach (var (name, child) in want.Entries!)
                    if (!got.Entries!.TryGetValue(name, out var c)) return $"{where}: entry \"{name}\" is missing";
                    else if (c != child) return $"{where}: entry \"{name}\" names inode {c}, expected {child}";
                foreach (var name in got.Entries!.Keys)
                    if (!want.Entries.ContainsKey(name)) return $"{where}: unexpected entry \"{name}\"";
            }
            else
            {
                if (got.Nlink != want.Nlink) return $"{where}: link count {got.Nlink}, expected {want.Nlink}";
                if (got.Data.Length != want.Data.Length) return $"{where}: size {got.Data.Length}, expected {want.Data.Length}";
                if (ino == relaxIno && relaxOther is not null)
                {
                    for (int i = 0; i < want.Data.Length; i++)
                    {
                        byte other = i < relaxOther.Length ? relaxOther[i] : (byte)0;
                        if (got.Data[i] != want.Data[i] && got.Data[i] != other)
                            return $"{where}: byte {i} is 0x{got.Data[i]:x2}, neither the old 0x{want.Data[i]:x2} nor the new 0x{other:x2} (foreign data)";
                    }
                }
                else
                {
                    int same = got.Data.AsSpan().CommonPrefixLength(want.Data);
                    if (same != want.Data.Length) return $"{where}: byte {same} is 0x{got.Data[same]:x2}, expected 0x{want.Data[same]:x2}";
                }
            }
            foreach (var (name, value) in want.Xattrs)
                if (!got.Xattrs.TryGetValue(name, out var v)) return $"{where}: xattr {name} is missing";
                else if (!v.AsSpan().SequenceEqual(value)) return $"{where}: xattr {name} has {v.Length} bytes that differ from the expected {value.Length}";
            foreach (var name in got.Xattrs.Keys)
                if (!want.Xattrs.ContainsKey(name)) return $"{where}: unexpected xattr {name}";
        }
        return null;
    }

    /// <summary>A path of <paramref name="ino"/> in <paramref name="m"/>, for messages.</summary>
    public static string Describe(FsModel m, ulong ino)
    {
        if (ino == Root) return "/";
        foreach (var (parent, n) in m.Nodes)
            if (n.Entries is not null)
                foreach (var (name, child) in n.Entries)
                    if (child == ino) return (parent == Root ? "" : Describe(m, parent)) + "/" + name;
        return "unnamed";
    }
}
