using PmemFs.Format;

namespace PmemFs.Check;

/// <summary>
/// Phase 4: every dirent slot verified; the parent is a live directory, the child is live,
/// the DT_ type matches the child's mode, and no directory holds a name twice.
/// </summary>
internal static class Phase4Dirents
{
    public static void Run(FsckContext ctx)
    {
        var g = ctx.Geometry;
        long count = g.DirentCount;
        ctx.Report("dirents", 0, count);
        var names = new Dictionary<ulong, Dictionary<byte[], long>>();
        for (long slot = 0; slot < count; slot++)
        {
            Check(ctx, slot, names);
            ctx.Tick("dirents", slot + 1, count);
        }
    }

    private static void Check(FsckContext ctx, long slot, Dictionary<ulong, Dictionary<byte[], long>> names)
    {
        var g = ctx.Geometry;
        var v = DiskDirent.VerifyRead(ctx.Media.Read(g.DirentOffset(slot), DiskDirent.Size), slot, out var d);
        if (v.Verdict == Verdict.Empty) return;
        string where = $"dirent slot {slot}";
        if (!v.IsOk)
        {
            ctx.DamagedDirents = true;
            ctx.Problem(where, Describe.Verdict(v, where));
            return;
        }
        ctx.DirentCount++;

        // The parent: a damaged one cannot be judged, and its children's place in the tree is unknown
        // (the entry still counts as a link of its child).
        if (!g.IsValidIno(d.Parent)) { ctx.Problem(where, $"lives in inode {d.Parent}, which does not exist"); return; }
        if (ctx.DamagedInodes.Contains(d.Parent))
        {
            ctx.UnderDamagedDirectory.Add(d.Child);
        }
        else if (!ctx.Inodes.TryGetValue(d.Parent, out var parent))
        {
            ctx.Problem(where, $"lives in inode {d.Parent}, which is free");
            return;
        }
        else if (parent.FileType != FileTypes.Directory)
        {
            ctx.Problem(where, $"lives in inode {d.Parent}, which is a {Describe.FileType(parent.Mode)}, not a directory");
            return;
        }

        bool childDamaged = ctx.DamagedInodes.Contains(d.Child);
        if (!g.IsValidIno(d.Child)) { ctx.Problem(where, $"{Describe.Name(d.Name)} points at inode {d.Child}, which does not exist"); return; }
        if (!childDamaged)
        {
            if (!ctx.Inodes.TryGetValue(d.Child, out var child)) { ctx.Problem(where, $"{Describe.Name(d.Name)} points at free inode {d.Child}"); return; }
            if (d.Type != FileTypes.ToDirentType(child.Mode))
                ctx.Problem(where, $"{Describe.Name(d.Name)} has type {d.Type} but inode {d.Child} is a {Describe.FileType(child.Mode)} (type {FileTypes.ToDirentType(child.Mode)})");
        }

        if (!names.TryGetValue(d.Parent, out var inDir)) names[d.Parent] = inDir = new Dictionary<byte[], long>(ByteArrayComparer.Instance);
        if (!inDir.TryAdd(d.Name, slot))
            ctx.Problem(where, $"directory {d.Parent} holds the name {Describe.Name(d.Name)} twice (also dirent slot {inDir[d.Name]})");

        ctx.Dirents.Add(new DirentInfo(slot, d.Parent, d.Child, d.Type, d.Name));
    }
}
