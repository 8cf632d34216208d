using System.Buffers.Binary;
using PmemFs.Format;

namespace PmemFs.Check;

/// <summary>
/// Phase 3: every inode slot through its verifier. A bad checksum and a structural corruption
/// are reported differently; either way the inode is "damaged" and later phases do not pile
/// consequences of it on top (its extents, entries and links are not judged).
/// </summary>
internal static class Phase3Inodes
{
    public static void Run(FsckContext ctx)
    {
        var g = ctx.Geometry;
        long count = g.InodeCount;
        ctx.Report("inodes", 0, count);
        for (long slot = 0; slot < count; slot++)
        {
            ulong ino = Geometry.InoOfSlot(slot);
            var bytes = ctx.Media.Read(g.InodeOffset(slot), DiskInode.Size);
            VerifyResult v;
            InodeRecord rec;
            try
            {
                v = DiskInode.VerifyRead(bytes, ino, out rec);
            }
            catch (FormatException)
            {
                // DiskInode.VerifyRead formats a bad mode with "o", which .NET does not have:
                // it throws instead of returning its verdict. Give that verdict here.
                v = Diagnose(bytes, ino);
                rec = default;
            }
            switch (v.Verdict)
            {
                case Verdict.Ok:
                    if (!rec.IsFree) ctx.Inodes[ino] = rec;
                    break;
                case Verdict.Empty:
                    break;
                default:
                    ctx.DamagedInodes.Add(ino);
                    ctx.Problem($"inode {ino}", Describe.Verdict(v, $"inode {ino}"));
                    break;
            }
            ctx.Tick("inodes", slot + 1, count);
        }

        if (!ctx.DamagedInodes.Contains(FormatConstants.RootIno)
            && (!ctx.Inodes.TryGetValue(FormatConstants.RootIno, out var root) || root.FileType != FileTypes.Directory))
            ctx.Problem($"inode {FormatConstants.RootIno}", "root inode is missing or not a directory");
    }

    /// <summary>The verdict the verifier meant to give when it threw (it had already passed the checksum).</summary>
    private static VerifyResult Diagnose(ReadOnlySpan<byte> bytes, ulong ino)
    {
        uint mode = BinaryPrimitives.ReadUInt32LittleEndian(bytes[20..]);
        return FileTypes.IsValid(mode & FileTypes.Mask)
            ? VerifyResult.Corruption($"inode {ino}: record cannot be verified")
            : VerifyResult.Corruption($"inode {ino}: invalid file type in mode 0{Describe.Octal(mode)}");
    }
}
