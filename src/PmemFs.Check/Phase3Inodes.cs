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
            var v = DiskInode.VerifyRead(ctx.Media.Read(g.InodeOffset(slot), DiskInode.Size), ino, out var rec);
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
}
