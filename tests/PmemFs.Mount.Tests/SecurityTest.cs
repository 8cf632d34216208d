namespace PmemFs.Mount.Tests;

/// <summary>
/// The region is the trust boundary (docs/security.md), seen by an unprivileged user (uid 65534
/// through setpriv) against real mounts: the image mkfs makes cannot be opened, mount refuses
/// an exposed image and accepts a group-shared one, and every PmemFs ioctl refuses a caller
/// without the ownership or capability it needs (also one holding every capability inside a
/// user namespace of its own) and changes nothing.
/// </summary>
public class SecurityTest
{
    private const string Nobody = "65534";

    /// <summary>Runs a command as uid/gid 65534 with no supplementary groups.</summary>
    private static ProcResult AsNobody(params string[] command) =>
        Proc.Run("setpriv", ["--reuid=" + Nobody, "--regid=" + Nobody, "--clear-groups", .. command]);

    /// <summary>The same inside a new user namespace where the caller is "root" with every capability.</summary>
    private static ProcResult AsNobodyInOwnUserNamespace(params string[] command) =>
        AsNobody(["unshare", "--user", "--map-root-user", .. command]);

    private static void SkipUnlessTools(bool userNamespace = false)
    {
        Skip.If(Proc.Which("setpriv") is null, "setpriv (util-linux) is missing");
        if (userNamespace)
            Skip.IfNot(AsNobody("unshare", "--user", "--map-root-user", "true").Ok, "unprivileged user namespaces are disabled here");
    }

    [SkippableFact]
    public void TheImageMkfsMakesCannotBeOpenedByAnotherUser()
    {
        SkipUnlessTools();
        using var fs = new MountedFileSystem("64M", mount: false);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(fs.Image));
        var read = AsNobody("cat", fs.Image);
        Assert.False(read.Ok, read.ToString());
        Assert.Contains("Permission denied", read.Err, StringComparison.Ordinal);
        var info = AsNobody(fs.Cli, "info", fs.Image);
        Assert.False(info.Ok, info.ToString());
        Assert.Contains("the region is private: mode 0600, owner root, group root; only root (the owner) can open the region", info.Err, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void MountRefusesAnExposedImageAcceptsAGroupSharedOneAndTheOverrideIsLogged()
    {
        SkipUnlessTools();
        using var fs = new MountedFileSystem("64M", mount: false);
        File.SetUnixFileMode(fs.Image, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var refused = Proc.Run(fs.Cli, ["mount", fs.Image, fs.Path]);
        Assert.False(refused.Ok, refused.ToString());
        Assert.Equal($"pmemfs: mount: {fs.Image}: exposed: every user can read it (mode 0644, owner root, group root), and it holds every file's data and metadata; "
            + $"make it private: chmod 0600 {fs.Image} (or share it with one group: chgrp GROUP {fs.Image} && chmod 0660 {fs.Image}); -o allow_exposed_region mounts it anyway",
            refused.Err.Trim());
        Assert.False(fs.IsMounted);

        // Granting direct access: chgrp GROUP IMAGE; chmod 0660 IMAGE.
        Proc.Check("chgrp", "nogroup", fs.Image);
        File.SetUnixFileMode(fs.Image, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
        fs.Mount();
        var info = Proc.Check(fs.Cli, "info", fs.Path);
        Assert.Contains("state:                      group-shared: root (the owner) and members of group nogroup can open the region", info.Out, StringComparison.Ordinal);
        Assert.True(CanNobodyRead(fs.Image), "a member of the image's group (gid 65534) could not open it");
        fs.Unmount();

        File.SetUnixFileMode(fs.Image, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite);
        var overridden = Proc.Run(fs.Cli, ["mount", fs.Image, fs.Path, "-o", "allow_exposed_region"]);
        Assert.True(overridden.Ok, overridden.ToString());
        try
        {
            Assert.True(fs.IsMounted);
            string log = File.ReadAllText(fs.LogFile);
            Assert.Contains("warning: mounting although refused by the access check, because of -o allow_exposed_region: " + fs.Image + ": exposed: every user can read and write it", log, StringComparison.Ordinal);
        }
        finally
        {
            Proc.Run(fs.Cli, "unmount", fs.Path);
        }
        Assert.True(fs.Fsck().Ok);
    }

    private static bool CanNobodyRead(string path) => AsNobody("head", "-c", "1", path).Ok;

    [SkippableFact]
    public void EveryFlagIoctlRefusesACallerWithoutOwnershipOrCapabilityAndChangesNothing()
    {
        SkipUnlessTools(userNamespace: true);
        using var fs = new MountedFileSystem("64M");
        File.WriteAllText(fs["roots"], "root's file\n");          // 0644: nobody can open it for the ioctl
        File.WriteAllText(fs["nobodys"], "nobody's file\n");
        Proc.Check("chown", Nobody + ":" + Nobody, fs["nobodys"]);
        File.SetUnixFileMode(fs.Path, (UnixFileMode)0x1FF); // 0777: nobody reaches both files
        string Flags(string name) => Proc.Check(fs.Cli, "lsattr", fs[name]).Out.Split(' ', 2)[0];
        var before = (Roots: Flags("roots"), Nobodys: Flags("nobodys"));

        var refusals = new List<(string What, ProcResult Result)>
        {
            // PmemFs's own ioctl (PMEMFS_IOC_SET_FLAGS): the kernel checks nothing, the daemon everything.
            ("own ioctl: +nodump on root's file (not the owner)", AsNobody(fs.Cli, "chattr", "+d", fs["roots"])),
            ("own ioctl: +immutable on root's file", AsNobody(fs.Cli, "chattr", "+i", fs["roots"])),
            ("own ioctl: +immutable on its own file (no CAP_LINUX_IMMUTABLE)", AsNobody(fs.Cli, "chattr", "+i", fs["nobodys"])),
            ("own ioctl: +append on its own file", AsNobody(fs.Cli, "chattr", "+a", fs["nobodys"])),
            ("own ioctl: +dax,dax_immutable on its own file", AsNobody(fs.Cli, "chattr", "+dax,dax_immutable", fs["nobodys"])),
            // Every capability, but inside its own user namespace: none over this mount.
            ("user namespace: own ioctl +immutable on its own file", AsNobodyInOwnUserNamespace(fs.Cli, "chattr", "+i", fs["nobodys"])),
            ("user namespace: own ioctl +nodump on root's file", AsNobodyInOwnUserNamespace(fs.Cli, "chattr", "+d", fs["roots"])),
            ("user namespace: own ioctl +append on root's file", AsNobodyInOwnUserNamespace(fs.Cli, "chattr", "+a", fs["roots"])),
            // The standard ioctls (chattr(1), xfs_io): the kernel refuses first, the daemon would too.
            ("FS_IOC_SETFLAGS +d on root's file", AsNobody("chattr", "+d", fs["roots"])),
            ("FS_IOC_SETFLAGS +i on its own file", AsNobody("chattr", "+i", fs["nobodys"])),
            ("user namespace: FS_IOC_SETFLAGS +i on its own file", AsNobodyInOwnUserNamespace("chattr", "+i", fs["nobodys"])),
        };
        // xfs_io is installed by scripts/install-deps.sh: its absence is a broken setup, not a skip.
        refusals.Add(("FS_IOC_FSSETXATTR project id of root's file", AsNobody("xfs_io", "-r", "-c", "chproj 42", fs["roots"])));
        refusals.Add(("FS_IOC_FSSETXATTR +i on its own file", AsNobody("xfs_io", "-r", "-c", "chattr +i", fs["nobodys"])));
        foreach (var (what, r) in refusals)
        {
            Assert.False(r.Ok, $"{what} was accepted:\n{r}");
            Assert.Contains("not permitted", r.Out + r.Err, StringComparison.OrdinalIgnoreCase);
        }
        Assert.Equal(before, (Flags("roots"), Flags("nobodys")));
        Assert.DoesNotContain("42", Proc.Check("xfs_io", "-r", "-c", "lsproj", fs["roots"]).Out, StringComparison.Ordinal);

        // The same path works for what the caller may do: the refusals above are the checks, not a broken path.
        var allowed = AsNobody(fs.Cli, "chattr", "+d", fs["nobodys"]);
        Assert.True(allowed.Ok, allowed.ToString());
        Assert.Equal("nodump", Flags("nobodys"));
        fs.Unmount();
        var fsck = fs.Fsck();
        Assert.True(fsck.Ok, fsck.ToString());
    }
}
