using System.Text;
using PmemFs.Format;

namespace PmemFs.Check;

/// <summary>How findings name things: blocks, owners, file types, names.</summary>
internal static class Describe
{
    /// <summary>"block 7" or "blocks 7..9" (inclusive, as people count).</summary>
    public static string Blocks(long start, long count) =>
        count == 1 ? $"block {start}" : $"blocks {start}..{start + count - 1}";

    /// <summary>A physical range as found in a record, which may be nonsense (so no inclusive arithmetic that could overflow).</summary>
    public static string Range(long start, long count) =>
        count >= 1 && start <= long.MaxValue - count ? Blocks(start, count) : $"physical block {start} (+{count})";

    /// <summary>"count 2 for blocks 7..9", as a reference-count record says.</summary>
    public static string Refcount(RefcountRecord r) => $"count {r.Refs} for {Range(r.PhysBlock, r.BlockCount)}";

    public static string Owner(RmapOwnerKind kind, ulong owner) => kind switch
    {
        RmapOwnerKind.InodeData => $"inode {owner}",
        RmapOwnerKind.InodeXattr => $"inode {owner} (xattr blob)",
        RmapOwnerKind.Superblock => "a superblock",
        RmapOwnerKind.Journal => "the journal",
        RmapOwnerKind.Bitmap => "the free-space bitmap",
        RmapOwnerKind.InodeTable => "the inode table",
        RmapOwnerKind.DirentTable => "the dirent table",
        RmapOwnerKind.ExtentTable => "the extent table",
        RmapOwnerKind.RmapTable => "the rmap table",
        _ => $"owner kind {(byte)kind}",
    };

    public static string FileType(uint mode) => (mode & FileTypes.Mask) switch
    {
        FileTypes.Directory => "directory",
        FileTypes.Regular => "regular file",
        FileTypes.Symlink => "symlink",
        FileTypes.Fifo => "fifo",
        FileTypes.Socket => "socket",
        FileTypes.CharDevice => "character device",
        FileTypes.BlockDevice => "block device",
        _ => $"file of type 0{Octal((mode & FileTypes.Mask) >> 12)}",
    };

    /// <summary>Octal digits, as modes are written (.NET has no octal format specifier).</summary>
    public static string Octal(uint value) => Convert.ToString(value, 8);

    /// <summary>A name as bytes: printable ASCII as is, anything else as \xNN, in quotes.</summary>
    public static string Name(ReadOnlySpan<byte> name)
    {
        var sb = new StringBuilder(name.Length + 2).Append('"');
        foreach (byte b in name)
        {
            if (b is >= 0x20 and < 0x7F && b != (byte)'"' && b != (byte)'\\') sb.Append((char)b);
            else sb.Append($"\\x{b:x2}");
        }
        return sb.Append('"').ToString();
    }

    /// <summary>A verifier's problem without the "inode 5: " it starts with (the Where says it already).</summary>
    public static string Verdict(VerifyResult v, string prefix)
    {
        if (v.Verdict == Format.Verdict.BadChecksum) return "checksum mismatch";
        string p = v.Problem ?? v.Verdict.ToString();
        return p.StartsWith(prefix + ": ", StringComparison.Ordinal) ? p[(prefix.Length + 2)..] : p;
    }
}
