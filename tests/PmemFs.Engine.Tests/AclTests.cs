using PmemFs.Format;
using PmemFs.Media;
using static PmemFs.Engine.Tests.EngineFixture;

namespace PmemFs.Engine.Tests;

/// <summary>
/// POSIX ACLs in the engine: the xattr codec and its validation, mode and ACL kept in step (set,
/// chmod, setgid), inheritance of default ACLs at creation with and without umask, persistence,
/// and a create with inherited ACLs being one transaction. Expected values are Linux's (measured
/// on tmpfs, Linux 6.18; docs/acl.md).
/// </summary>
public sealed class AclTests
{
    private const uint Any = DiskPosixAcl.UndefinedId;
    private static readonly byte[] Access = DiskPosixAcl.AccessName.ToArray(), Default = DiskPosixAcl.DefaultName.ToArray();

    private static AclEntry E(AclTag tag, int perm, uint id = Any) => new(tag, (ushort)perm, id);

    private static byte[] Acl(params AclEntry[] entries) => DiskPosixAcl.Encode(entries);

    private static byte[] WithVersion(byte[] value, uint version)
    {
        var copy = (byte[])value.Clone();
        BitConverter.TryWriteBytes(copy.AsSpan(0, 4), version);
        return copy;
    }

    /// <summary>user::rw- user:1000:rwx group::r-- mask::r-x other::---</summary>
    private static readonly byte[] Named = Acl(E(AclTag.UserObj, 6), E(AclTag.User, 7, 1000), E(AclTag.GroupObj, 4), E(AclTag.Mask, 5), E(AclTag.Other, 0));

    private static uint ModeOf(EngineFixture f, ulong ino)
    {
        Assert.Equal(Errno.Ok, f.Fs.GetAttr(ino, out var a));
        return a.Mode & 0xFFF;
    }

    private static AclEntry[] AclOf(FileSystem fs, ulong ino, byte[] name)
    {
        Assert.Equal(Errno.Ok, fs.GetXattr(ino, name, out var v));
        Assert.Equal(AclVerdict.Ok, DiskPosixAcl.Decode(v, out var entries));
        return entries;
    }

    [Fact]
    public void TheCodecRoundTripsAndNormalisesIdsOfUnnamedEntries()
    {
        var raw = Acl(E(AclTag.UserObj, 6), E(AclTag.User, 7, 1000), E(AclTag.GroupObj, 4), E(AclTag.Group, 1, 50), E(AclTag.Mask, 7), E(AclTag.Other, 0));
        Assert.Equal(4 + 6 * 8, raw.Length);
        Assert.Equal(AclVerdict.Ok, DiskPosixAcl.Decode(raw, out var entries));
        Assert.Equal(raw, DiskPosixAcl.Encode(entries));
        Assert.Equal(1000u, entries[1].Id);
        // An id on USER_OBJ is dropped, as the kernel's posix_acl_to_xattr does.
        var withId = Acl(E(AclTag.UserObj, 6), E(AclTag.GroupObj, 4), E(AclTag.Other, 4));
        withId[8] = 123;
        Assert.Equal(AclVerdict.Ok, DiskPosixAcl.Decode(withId, out entries));
        Assert.Equal(Any, entries[0].Id);
    }

    public static TheoryData<string, byte[], AclVerdict> Malformed() => new()
    {
        { "version 3", WithVersion(Named, 3), AclVerdict.BadVersion },
        { "short header", [2, 0, 0], AclVerdict.BadSize },
        { "trailing byte", [.. Named, 0], AclVerdict.BadSize },
        { "header only", [2, 0, 0, 0], AclVerdict.Empty },
        { "group_obj before user_obj", Acl(E(AclTag.GroupObj, 4), E(AclTag.UserObj, 6), E(AclTag.Other, 4)), AclVerdict.Invalid },
        { "no group_obj", Acl(E(AclTag.UserObj, 6), E(AclTag.Other, 4)), AclVerdict.Invalid },
        { "two user_obj", Acl(E(AclTag.UserObj, 6), E(AclTag.UserObj, 6), E(AclTag.GroupObj, 4), E(AclTag.Other, 4)), AclVerdict.Invalid },
        { "named without mask", Acl(E(AclTag.UserObj, 6), E(AclTag.User, 7, 1000), E(AclTag.GroupObj, 4), E(AclTag.Other, 4)), AclVerdict.Invalid },
        { "two masks", Acl(E(AclTag.UserObj, 6), E(AclTag.GroupObj, 4), E(AclTag.Mask, 4), E(AclTag.Mask, 4), E(AclTag.Other, 4)), AclVerdict.Invalid },
        { "perm 8", Acl(E(AclTag.UserObj, 8), E(AclTag.GroupObj, 4), E(AclTag.Other, 4)), AclVerdict.Invalid },
        { "unknown tag", Acl(E(AclTag.UserObj, 6), E((AclTag)0x40, 4), E(AclTag.GroupObj, 4), E(AclTag.Other, 4)), AclVerdict.Invalid },
        { "named uid -1", Acl(E(AclTag.UserObj, 6), E(AclTag.User, 7, Any), E(AclTag.GroupObj, 4), E(AclTag.Mask, 7), E(AclTag.Other, 4)), AclVerdict.Invalid },
        // Linux 6.18's posix_acl_valid no longer checks the order of named ids (tmpfs takes both).
        { "named ids unsorted", Acl(E(AclTag.UserObj, 6), E(AclTag.User, 7, 1000), E(AclTag.User, 7, 999), E(AclTag.GroupObj, 4), E(AclTag.Mask, 7), E(AclTag.Other, 4)), AclVerdict.Ok },
        { "mask without named entries", Acl(E(AclTag.UserObj, 6), E(AclTag.GroupObj, 4), E(AclTag.Mask, 5), E(AclTag.Other, 4)), AclVerdict.Ok },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void DecodeJudgesEachValueAsPosixAclValidDoes(string what, byte[] value, AclVerdict expected)
    {
        Assert.True(expected == DiskPosixAcl.Decode(value, out _), what);
    }

    [Fact]
    public void MisuseGetsTheErrnoLinuxGives()
    {
        using var f = new EngineFixture();
        ulong file = f.CreateFile(Root, "f"), dir = f.MakeDir(Root, "d");
        Assert.Equal(Errno.Ok, f.Fs.Symlink(Root, N("l"), N("f"), Credentials.Root, out var link));
        Assert.Equal(Errno.EACCES, f.Fs.SetXattr(file, Default, Named, XattrSetFlags.None));
        Assert.Equal(Errno.Ok, f.Fs.SetXattr(file, Default, [2, 0, 0, 0], XattrSetFlags.None)); // no entries: a removal, nothing to remove
        Assert.Equal(Errno.EOPNOTSUPP, f.Fs.SetXattr(link.Ino, Access, Named, XattrSetFlags.None));
        Assert.Equal(Errno.EOPNOTSUPP, f.Fs.SetXattr(file, Access, WithVersion(Named, 3), XattrSetFlags.None));
        Assert.Equal(Errno.EINVAL, f.Fs.SetXattr(file, Access, [.. Named, 0], XattrSetFlags.None));
        Assert.Equal(Errno.EINVAL, f.Fs.SetXattr(dir, Default, Acl(E(AclTag.UserObj, 6), E(AclTag.User, 7, 1000), E(AclTag.GroupObj, 4), E(AclTag.Other, 4)), XattrSetFlags.None));
        Assert.Equal(Errno.EOPNOTSUPP, f.Fs.SetXattr(file, N("system.posix_acl_other"), Named, XattrSetFlags.None));
        Assert.Equal(Errno.EPERM, f.Fs.SetXattr(file, Access, Named, XattrSetFlags.None, new Credentials(1000, 1000)));
        Assert.Equal(Errno.Ok, f.Fs.SetXattr(file, Access, Named, XattrSetFlags.None, new Credentials(0, 0, Caps: Capabilities.Fowner)));
        Assert.Equal(Errno.ENODATA, f.Fs.GetXattr(dir, Default, out _));
        Assert.Equal(Errno.Ok, f.Fs.RemoveXattr(dir, Default)); // removing an absent ACL succeeds, as on Linux
        Assert.Equal(Errno.ENODATA, f.Fs.RemoveXattr(file, N("user.absent")));
    }

    [Fact]
    public void AnAccessAclSetsTheModeAndChmodSetsTheAcl()
    {
        using var f = new EngineFixture();
        ulong file = f.CreateFile(Root, "f", 0x8000 | 0x1A4); // 0644
        Assert.Equal(Errno.Ok, f.Fs.SetXattr(file, Access, Named, XattrSetFlags.None));
        Assert.Equal(0x1A8u, ModeOf(f, file)); // 0650: group bits are the mask
        Assert.Equal(Named, f.Fs.GetXattr(file, Access, out var v) == Errno.Ok ? v : null);

        Assert.Equal(Errno.Ok, f.Fs.SetAttr(file, new SetAttrRequest { Fields = SetAttrFields.Mode, Mode = 0x1C0 }, Credentials.Root, out _)); // chmod 0700
        var acl = AclOf(f.Fs, file, Access);
        Assert.Equal([E(AclTag.UserObj, 7), E(AclTag.User, 7, 1000), E(AclTag.GroupObj, 4), E(AclTag.Mask, 0), E(AclTag.Other, 0)], acl);

        // A mask without named entries is still more than the mode; chmod moves the mask, not GROUP_OBJ.
        Assert.Equal(Errno.Ok, f.Fs.SetXattr(file, Access, Acl(E(AclTag.UserObj, 6), E(AclTag.GroupObj, 7), E(AclTag.Mask, 4), E(AclTag.Other, 4)), XattrSetFlags.None));
        Assert.Equal(0x1A4u, ModeOf(f, file));
        Assert.Equal(Errno.Ok, f.Fs.SetAttr(file, new SetAttrRequest { Fields = SetAttrFields.Mode, Mode = 0x1F8 }, Credentials.Root, out _)); // chmod 0770
        Assert.Equal([E(AclTag.UserObj, 7), E(AclTag.GroupObj, 7), E(AclTag.Mask, 7), E(AclTag.Other, 0)], AclOf(f.Fs, file, Access));

        // An ACL equivalent to a mode is that mode and no xattr at all.
        Assert.Equal(Errno.Ok, f.Fs.SetXattr(file, Access, Acl(E(AclTag.UserObj, 6), E(AclTag.GroupObj, 0), E(AclTag.Other, 0)), XattrSetFlags.None));
        Assert.Equal(0x180u, ModeOf(f, file));
        Assert.Equal(Errno.ENODATA, f.Fs.GetXattr(file, Access, out _));
        Assert.Equal(Errno.Ok, f.Fs.ListXattr(file, out var names));
        Assert.Empty(names);
    }

    [Fact]
    public void RemovingTheAccessAclKeepsTheMode()
    {
        using var f = new EngineFixture();
        ulong file = f.CreateFile(Root, "f");
        Assert.Equal(Errno.Ok, f.Fs.SetXattr(file, Access, Named, XattrSetFlags.None));
        Assert.Equal(Errno.Ok, f.Fs.RemoveXattr(file, Access));
        Assert.Equal(0x1A8u, ModeOf(f, file));
        Assert.Equal(Errno.ENODATA, f.Fs.GetXattr(file, Access, out _));
    }

    [Theory]
    [InlineData(2000u, Capabilities.None, false)]      // not in the group, no CAP_FSETID: setgid goes
    [InlineData(2000u, Capabilities.Fsetid, true)]
    [InlineData(100u, Capabilities.None, true)]        // the file's group is the caller's
    public void SettingAnAccessAclClearsSetgidAsPosixAclUpdateModeDoes(uint callerGid, Capabilities caps, bool keeps)
    {
        using var f = new EngineFixture();
        ulong file = f.CreateFile(Root, "f");
        Assert.Equal(Errno.Ok, f.Fs.SetAttr(file, new SetAttrRequest { Fields = SetAttrFields.Uid | SetAttrFields.Gid, Uid = 1000, Gid = 100 }, Credentials.Root, out _));
        Assert.Equal(Errno.Ok, f.Fs.SetAttr(file, new SetAttrRequest { Fields = SetAttrFields.Mode, Mode = 0x400 | 0x1ED }, Credentials.Root, out _)); // 2755
        Assert.Equal(Errno.Ok, f.Fs.SetXattr(file, Access, Named, XattrSetFlags.None, new Credentials(1000, callerGid, Caps: caps)));
        Assert.Equal(keeps ? 0x400u | 0x1A8 : 0x1A8u, ModeOf(f, file));
    }

    [Fact]
    public void NewInodesInheritTheDefaultAclMaskedByTheirModeAndIgnoreTheUmask()
    {
        using var f = new EngineFixture();
        ulong dir = f.MakeDir(Root, "d");
        // default: user::rwx user:1000:r-x group::rwx mask::rwx other::r-x
        var def = Acl(E(AclTag.UserObj, 7), E(AclTag.User, 5, 1000), E(AclTag.GroupObj, 7), E(AclTag.Mask, 7), E(AclTag.Other, 5));
        Assert.Equal(Errno.Ok, f.Fs.SetXattr(dir, Default, def, XattrSetFlags.None));
        var who = new Credentials(0, 0, Umask: 0x3F); // umask 077: ignored under a default ACL

        Assert.Equal(Errno.Ok, f.Fs.Create(dir, N("x"), 0x8000 | 0x1B6, who, out var x)); // open(0666)
        Assert.Equal(0x1B4u, x.Mode & 0xFFF); // 0664, as tmpfs
        Assert.Equal([E(AclTag.UserObj, 6), E(AclTag.User, 5, 1000), E(AclTag.GroupObj, 7), E(AclTag.Mask, 6), E(AclTag.Other, 4)], AclOf(f.Fs, x.Ino, Access));
        Assert.Equal(Errno.ENODATA, f.Fs.GetXattr(x.Ino, Default, out _));

        Assert.Equal(Errno.Ok, f.Fs.MakeDirectory(dir, N("y"), 0x1FF, who, out var y)); // mkdir(0777)
        Assert.Equal(0x1FDu, y.Mode & 0xFFF); // 0775
        Assert.Equal(def, f.Fs.GetXattr(y.Ino, Default, out var yd) == Errno.Ok ? yd : null);
        Assert.Equal([E(AclTag.UserObj, 7), E(AclTag.User, 5, 1000), E(AclTag.GroupObj, 7), E(AclTag.Mask, 7), E(AclTag.Other, 5)], AclOf(f.Fs, y.Ino, Access));

        Assert.Equal(Errno.Ok, f.Fs.Create(dir, N("p"), 0x1000 | 0x1A4, who, out var fifo)); // mkfifo(0644)
        Assert.Equal(0x1A4u, fifo.Mode & 0xFFF);
        Assert.Equal(Errno.Ok, f.Fs.GetXattr(fifo.Ino, Access, out _));

        Assert.Equal(Errno.Ok, f.Fs.Symlink(dir, N("l"), N("x"), who, out var link));
        Assert.Equal(0x1FFu, link.Mode & 0xFFF);
        Assert.Equal(Errno.Ok, f.Fs.ListXattr(link.Ino, out var linkNames));
        Assert.Empty(linkNames);

        // A default ACL with nothing beyond the mode gives an access ACL equivalent to the mode: none is stored.
        ulong plain = f.MakeDir(Root, "plain");
        Assert.Equal(Errno.Ok, f.Fs.SetXattr(plain, Default, Acl(E(AclTag.UserObj, 7), E(AclTag.GroupObj, 5), E(AclTag.Other, 0)), XattrSetFlags.None));
        Assert.Equal(Errno.Ok, f.Fs.Create(plain, N("z"), 0x8000 | 0x1B6, who, out var z));
        Assert.Equal(0x1A0u, z.Mode & 0xFFF); // 0640
        Assert.Equal(Errno.ENODATA, f.Fs.GetXattr(z.Ino, Access, out _));

        f.Remount();
        Assert.Equal([E(AclTag.UserObj, 6), E(AclTag.User, 5, 1000), E(AclTag.GroupObj, 7), E(AclTag.Mask, 6), E(AclTag.Other, 4)], AclOf(f.Fs, x.Ino, Access));
        Assert.Equal(def, f.Fs.GetXattr(y.Ino, Default, out yd) == Errno.Ok ? yd : null);
    }

    [Fact]
    public void WithoutADefaultAclTheUmaskApplies()
    {
        using var f = new EngineFixture();
        var who = new Credentials(0, 0, Umask: 0x12); // 022
        Assert.Equal(Errno.Ok, f.Fs.Create(Root, N("f"), 0x8000 | 0x1B6, who, out var a));
        Assert.Equal(0x1A4u, a.Mode & 0xFFF);
        Assert.Equal(Errno.Ok, f.Fs.MakeDirectory(Root, N("d"), 0x1FF | 0x200, who, out var d)); // sticky survives the umask
        Assert.Equal(0x200u | 0x1ED, d.Mode & 0xFFF);
        Assert.Equal(Errno.Ok, f.Fs.Symlink(Root, N("l"), N("f"), who, out var l));
        Assert.Equal(0x1FFu, l.Mode & 0xFFF);
    }

    /// <summary>
    /// Every crash state of a create under a default ACL and of a chmod of a file with an access
    /// ACL: the new file is absent or present with its ACL and mode, and mode and ACL always agree.
    /// </summary>
    [Fact]
    public void ACreateWithInheritedAclsAndAChmodAreEachOneTransaction()
    {
        var media = new MemoryMedia(32L << 20);
        Mkfs.Format(media, new MkfsOptions());
        ulong dir;
        var def = Acl(E(AclTag.UserObj, 7), E(AclTag.User, 5, 1000), E(AclTag.GroupObj, 7), E(AclTag.Mask, 7), E(AclTag.Other, 5));
        using (var fs = FileSystem.Mount(media))
        {
            Assert.Equal(Errno.Ok, fs.MakeDirectory(Root, N("d"), DirMode, Credentials.Root, out var d));
            dir = d.Ino;
            Assert.Equal(Errno.Ok, fs.SetXattr(dir, Default, def, XattrSetFlags.None));
        }
        var snapshots = new List<MemoryMedia>();
        var watched = new FaultInjectingMedia(media, ownsInner: false)
        {
            BeforeOperation = op => { if (op.IsStore) snapshots.Add(MemoryMedia.CopyOf(media)); },
        };
        using (var fs = FileSystem.Mount(watched))
        {
            snapshots.Clear();
            Assert.Equal(Errno.Ok, fs.MakeDirectory(dir, N("sub"), 0x1FF, Credentials.Root, out var sub));
            Assert.Equal(Errno.Ok, fs.SetAttr(sub.Ino, new SetAttrRequest { Fields = SetAttrFields.Mode, Mode = 0x1C0 }, Credentials.Root, out _));
            watched.BeforeOperation = null;
        }
        snapshots.Add(MemoryMedia.CopyOf(media));
        Assert.True(snapshots.Count > 4);
        int seenAbsent = 0, seenAfterCreate = 0, seenAfterChmod = 0;
        for (int i = 0; i < snapshots.Count; i++)
        {
            using var fs = FileSystem.Mount(snapshots[i]);
            var found = fs.Lookup(dir, N("sub"), out var sub);
            if (found == Errno.ENOENT) { seenAbsent++; continue; }
            Assert.Equal(Errno.Ok, found);
            Assert.True(Errno.Ok == fs.GetXattr(sub.Ino, Default, out var subDefault), $"crash before store {i}: a new directory without its default ACL");
            Assert.Equal(def, subDefault);
            var access = AclOf(fs, sub.Ino, Access);
            uint mode = sub.Mode & 0x1FF;
            // Mode and access ACL agree in every state: USER_OBJ, MASK and OTHER are the mode's bits.
            Assert.Equal((mode >> 6) & 7, access.Single(e => e.Tag == AclTag.UserObj).Perm);
            Assert.Equal((mode >> 3) & 7, access.Single(e => e.Tag == AclTag.Mask).Perm);
            Assert.Equal(mode & 7, access.Single(e => e.Tag == AclTag.Other).Perm);
            if (mode == 0x1FD) seenAfterCreate++;
            else if (mode == 0x1C0) seenAfterChmod++;
            else Assert.Fail($"crash before store {i}: mode {Convert.ToString(mode, 8)}");
        }
        Assert.True(seenAbsent > 0 && seenAfterCreate > 0 && seenAfterChmod > 0, $"{seenAbsent}/{seenAfterCreate}/{seenAfterChmod}");
    }
}
