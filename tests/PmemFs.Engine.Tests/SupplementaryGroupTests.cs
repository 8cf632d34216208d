using PmemFs.Format;
using static PmemFs.Engine.Tests.EngineFixture;

namespace PmemFs.Engine.Tests;

/// <summary>
/// Ownership changes and supplementary groups (Linux's chown_ok/chgrp_ok and in_group_p): the
/// owner may give a file of any type to a group it is in only through a supplementary group; a
/// non-member is refused; the groups are looked up only when the primary gid does not decide.
/// </summary>
public class SupplementaryGroupTests
{
    private const uint SetUid = 0x800, SetGid = 0x400, GroupExec = 0x8;

    /// <summary>Counts the look-ups, so that a test can show they happen only when needed.</summary>
    private sealed class CountingGroups(params uint[] gids) : IGroupMembership
    {
        public int Asked;
        public bool IsMember(int pid, uint gid)
        {
            Asked++;
            return Array.IndexOf(gids, gid) >= 0;
        }
    }

    private static readonly uint[] Types = [FileTypes.Regular, FileTypes.Directory, FileTypes.Symlink, FileTypes.Fifo, FileTypes.Socket, FileTypes.CharDevice, FileTypes.BlockDevice];

    private static InodeAttributes Make(EngineFixture t, uint type, string name, Credentials who)
    {
        Errno e;
        InodeAttributes a;
        if (type == FileTypes.Directory) e = t.Fs.MakeDirectory(Root, N(name), 0x1ED, who, out a);
        else if (type == FileTypes.Symlink) e = t.Fs.Symlink(Root, N(name), N("target"), who, out a);
        else e = t.Fs.Create(Root, N(name), type | 0x1A4, who, out a, type is FileTypes.CharDevice or FileTypes.BlockDevice ? 0x0103ul : 0);
        Assert.Equal(Errno.Ok, e);
        return a;
    }

    private static Errno Chgrp(EngineFixture t, ulong ino, uint gid, Credentials who, out InodeAttributes a) =>
        t.Fs.SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Gid, Gid = gid }, who, out a);

    [Fact]
    public void OwnerMayChgrpEveryFileTypeToASupplementaryGroup()
    {
        using var t = new EngineFixture();
        var owner = new Credentials(1000, 1000, 4242, Groups: new FixedGroups(2000, 3000));
        foreach (uint type in Types)
        {
            var f = Make(t, type, $"f{type:x}", Credentials.Root);
            Assert.Equal(Errno.Ok, t.Fs.SetAttr(f.Ino, new SetAttrRequest { Fields = SetAttrFields.Uid | SetAttrFields.Gid, Uid = 1000, Gid = 1000 }, Credentials.Root, out _));
            // chgrp G, and chown -1:G / chown OWNER:G (uid unchanged) arrive with Uid set too.
            Assert.Equal(Errno.Ok, Chgrp(t, f.Ino, 2000, owner, out var a));
            Assert.Equal(2000u, a.Gid);
            Assert.Equal(Errno.Ok, t.Fs.SetAttr(f.Ino, new SetAttrRequest { Fields = SetAttrFields.Uid | SetAttrFields.Gid, Uid = 1000, Gid = 3000 }, owner, out a));
            Assert.Equal(3000u, a.Gid);
            // Back to the primary group, and to the group it already has.
            Assert.Equal(Errno.Ok, Chgrp(t, f.Ino, 1000, owner, out a));
            Assert.Equal(Errno.Ok, Chgrp(t, f.Ino, 1000, owner, out a));
            // Not a member: EPERM, nothing changed.
            Assert.Equal(Errno.EPERM, Chgrp(t, f.Ino, 4000, owner, out _));
            t.Fs.GetAttr(f.Ino, out a);
            Assert.Equal(1000u, a.Gid);
            // Giving the file away stays root's, whatever the groups.
            Assert.Equal(Errno.EPERM, t.Fs.SetAttr(f.Ino, new SetAttrRequest { Fields = SetAttrFields.Uid, Uid = 2000 }, owner, out _));
        }
        t.Remount();
        Assert.Equal(Errno.Ok, t.Fs.Lookup(Root, N($"f{FileTypes.Symlink:x}"), out var l));
        Assert.Equal(1000u, l.Gid);
    }

    [Fact]
    public void NonOwnerMemberIsRefused()
    {
        using var t = new EngineFixture();
        var owner = new Credentials(1000, 1000);
        var member = new Credentials(1001, 1001, Groups: new FixedGroups(2000, 1000));
        Assert.Equal(Errno.Ok, t.Fs.Create(Root, N("f"), RegularMode, owner, out var f));
        Assert.Equal(Errno.EPERM, Chgrp(t, f.Ino, 2000, member, out _));
    }

    [Fact]
    public void GroupsAreLookedUpOnlyWhenThePrimaryGidDoesNotDecide()
    {
        using var t = new EngineFixture();
        var groups = new CountingGroups(2000);
        var owner = new Credentials(1000, 1000, 4242, Groups: groups);
        Assert.Equal(Errno.Ok, t.Fs.Create(Root, N("f"), RegularMode, owner, out var f));
        Assert.Equal(Errno.Ok, t.Fs.Write(f.Ino, 0, N("data"), owner, out _));
        Assert.Equal(Errno.Ok, t.Fs.SetAttr(f.Ino, new SetAttrRequest { Fields = SetAttrFields.Mode, Mode = 0x1ED }, owner, out _));
        Assert.Equal(Errno.Ok, Chgrp(t, f.Ino, 1000, owner, out _));
        Assert.Equal(Errno.Ok, t.Fs.SetAttr(f.Ino, new SetAttrRequest { Fields = SetAttrFields.Size, Size = 1 }, owner, out _));
        Assert.Equal(0, groups.Asked);
        Assert.Equal(Errno.Ok, Chgrp(t, f.Ino, 2000, owner, out _));
        Assert.Equal(1, groups.Asked);
    }

    [Fact]
    public void ChgrpToASupplementaryGroupClearsSetuidAndExecutableSetgidAsLinux()
    {
        using var t = new EngineFixture();
        var owner = new Credentials(1000, 1000, Groups: new FixedGroups(2000));
        // setuid and setgid with group exec: both go.
        Assert.Equal(Errno.Ok, t.Fs.Create(Root, N("x"), FileTypes.Regular | SetUid | SetGid | 0x1ED, owner, out var x));
        Assert.Equal(Errno.Ok, Chgrp(t, x.Ino, 2000, owner, out var a));
        Assert.Equal(0u, a.Mode & (SetUid | SetGid));
        // setgid without group exec (the locking mark), caller in the old group: kept.
        Assert.Equal(Errno.Ok, t.Fs.Create(Root, N("l"), FileTypes.Regular | SetGid | 0x1A4, owner, out var l));
        Assert.Equal(Errno.Ok, Chgrp(t, l.Ino, 2000, owner, out a));
        Assert.Equal(SetGid, a.Mode & SetGid);
        // ... caller not in the old group (root gave the file a foreign group): dropped.
        Assert.Equal(Errno.Ok, Chgrp(t, l.Ino, 5000, Credentials.Root, out a));
        Assert.Equal(SetGid, a.Mode & SetGid);
        Assert.Equal(Errno.Ok, Chgrp(t, l.Ino, 2000, owner, out a));
        Assert.Equal(0u, a.Mode & SetGid);
        // Directories keep setgid through a chgrp.
        Assert.Equal(Errno.Ok, t.Fs.MakeDirectory(Root, N("d"), SetGid | 0x1ED, owner, out var d));
        Assert.Equal(Errno.Ok, Chgrp(t, d.Ino, 2000, owner, out a));
        Assert.Equal(SetGid, a.Mode & SetGid);
    }

    [Fact]
    public void ChmodKeepsSetgidForASupplementaryMemberAndDropsItForOthers()
    {
        using var t = new EngineFixture();
        var member = new Credentials(1000, 1000, Groups: new FixedGroups(2000));
        var outsider = new Credentials(1000, 1000, Groups: new FixedGroups(3000));
        Assert.Equal(Errno.Ok, t.Fs.Create(Root, N("f"), RegularMode, member, out var f));
        Assert.Equal(Errno.Ok, Chgrp(t, f.Ino, 2000, member, out _));
        Assert.Equal(Errno.Ok, t.Fs.SetAttr(f.Ino, new SetAttrRequest { Fields = SetAttrFields.Mode, Mode = SetGid | 0x1ED }, member, out var a));
        Assert.Equal(SetGid, a.Mode & SetGid);
        Assert.Equal(Errno.Ok, t.Fs.SetAttr(f.Ino, new SetAttrRequest { Fields = SetAttrFields.Mode, Mode = SetGid | 0x1ED }, outsider, out a));
        Assert.Equal(0u, a.Mode & SetGid);
    }

    [Fact]
    public void NewFilesInASetgidDirectoryStillTakeItsGroup()
    {
        using var t = new EngineFixture();
        var member = new Credentials(1000, 1000, Groups: new FixedGroups(2000));
        Assert.Equal(Errno.Ok, t.Fs.MakeDirectory(Root, N("shared"), 0x1FF, Credentials.Root, out var d));
        Assert.Equal(Errno.Ok, t.Fs.SetAttr(d.Ino, new SetAttrRequest { Fields = SetAttrFields.Gid | SetAttrFields.Mode, Gid = 2000, Mode = SetGid | 0x1FF }, Credentials.Root, out _));
        Assert.Equal(Errno.Ok, t.Fs.Create(d.Ino, N("f"), RegularMode, member, out var f));
        Assert.Equal(Errno.Ok, t.Fs.MakeDirectory(d.Ino, N("sub"), DirMode, member, out var sub));
        Assert.Equal(2000u, f.Gid);
        Assert.Equal(2000u, sub.Gid);
        Assert.Equal(SetGid, sub.Mode & SetGid);
        // And the member may hand its file back to its primary group.
        Assert.Equal(Errno.Ok, Chgrp(t, f.Ino, 1000, member, out var a));
        Assert.Equal(1000u, a.Gid);
    }
}
