using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using PmemFs.Media.Native;

namespace PmemFs.Media.Access;

/// <summary>Who besides the owner can open a region (image file or device) and so read or change every file in it.</summary>
public enum RegionExposure
{
    /// <summary>Only the owner (and root) can open it: mode ?600 or stricter, no ACL.</summary>
    Private,

    /// <summary>The owner and one group (or the named users and groups of an ACL): the way to grant direct access.</summary>
    GroupShared,

    /// <summary>Every user can read or write it.</summary>
    Exposed,
}

/// <summary>
/// Who can open a region directly: its owner, group, permission bits and whether an ACL adds
/// named users or groups. The region holds every file's bytes and all metadata, so whoever can
/// read it can read every file whatever the files' own permissions say, and whoever can write it
/// can change anything: the region is PmemFs's trust boundary, as a block device is for a
/// kernel file system (0660 root:disk).
/// </summary>
/// <param name="Mode">the permission bits (07777).</param>
/// <param name="HasExtendedAcl">a POSIX ACL names users or groups beyond owner, group and other; the group bits are then its mask.</param>
public sealed record RegionAccess(bool IsDevice, uint OwnerUid, uint GroupGid, uint Mode, bool HasExtendedAcl)
{
    private const uint OtherReadWrite = 0b_000_000_110;  // 0006
    private const uint GroupReadWrite = 0b_000_110_000;  // 0060

    public RegionExposure Exposure =>
        (Mode & OtherReadWrite) != 0 ? RegionExposure.Exposed
        : (Mode & GroupReadWrite) != 0 || HasExtendedAcl ? RegionExposure.GroupShared
        : RegionExposure.Private;

    public string ExposureName => Exposure switch
    {
        RegionExposure.Private => "private",
        RegionExposure.GroupShared => "group-shared",
        _ => "exposed",
    };

    /// <summary>"0644".</summary>
    public string ModeText => "0" + Convert.ToString(Mode & 0xFFF, 8).PadLeft(3, '0');

    /// <summary>"rw-r--r--".</summary>
    public string ModeSymbols
    {
        get
        {
            Span<char> s = stackalloc char[9];
            const string letters = "rwxrwxrwx";
            for (int i = 0; i < 9; i++) s[i] = (Mode & (1u << (8 - i))) != 0 ? letters[i] : '-';
            return new string(s);
        }
    }

    public string OwnerName => Accounts.UserName(OwnerUid);

    public string GroupName => Accounts.GroupName(GroupGid);

    /// <summary>Root can open every file (CAP_DAC_OVERRIDE), so it is named beside any other owner.</summary>
    private string OwnerAndRoot => OwnerUid == 0 ? "root (the owner)" : $"{OwnerName} (the owner) and root";

    /// <summary>"read", "write" or "read and write": what every user may do (for an exposed region).</summary>
    public string OtherAccessText => ((Mode & 4) != 0, (Mode & 2) != 0) switch
    {
        (true, true) => "read and write",
        (true, false) => "read",
        (false, true) => "write",
        _ => "not open",
    };

    /// <summary>One sentence: who can open the region directly.</summary>
    public string WhoCanOpenText => Exposure switch
    {
        RegionExposure.Private => $"only {OwnerAndRoot} can open the region",
        RegionExposure.GroupShared when HasExtendedAcl =>
            $"{OwnerAndRoot} and the users and groups its ACL names (getfacl) can open the region and read every file in it directly",
        RegionExposure.GroupShared =>
            $"{OwnerAndRoot} and members of group {GroupName} can open the region and read every file in it directly",
        _ => $"every user can {OtherAccessText} the region, and with it every file in it, whatever the files' own permissions say",
    };

    /// <summary>
    /// Why a mount by user <paramref name="mountingUid"/> must refuse this region, or null: every
    /// user can read or write it; or it is a file owned by another user, who could rewrite the
    /// file system (setuid files, crafted metadata) under the daemon. Group sharing is allowed:
    /// it is how direct access is granted. One line, with the command that fixes it.
    /// </summary>
    public string? MountRefusal(string path, uint mountingUid)
    {
        if (Exposure == RegionExposure.Exposed)
            return $"{path}: exposed: every user can {OtherAccessText} it (mode {ModeText}, owner {OwnerName}, group {GroupName}), "
                + $"and it holds every file's data and metadata; make it private: {MakePrivateCommand(path)} (or share it with one group: {ShareWithGroupCommand(path)})";
        if (!IsDevice && OwnerUid != mountingUid)
        {
            string mounter = Accounts.UserName(mountingUid);
            return $"{path}: owned by {OwnerName} (uid {OwnerUid}), not by {mounter} who mounts it: its owner could change the file system under the daemon; "
                + $"fix: chown {mounter} {Quote(path)}";
        }
        return null;
    }

    /// <summary>The command that makes <paramref name="path"/> private.</summary>
    public static string MakePrivateCommand(string path) => $"chmod 0600 {Quote(path)}";

    /// <summary>The commands that share <paramref name="path"/> with a group only (keeping its group when it is not the owner's default).</summary>
    public static string ShareWithGroupCommand(string path) => $"chgrp GROUP {Quote(path)} && chmod 0660 {Quote(path)}";

    /// <summary>The access of the file or device <paramref name="path"/> names (symbolic links followed).</summary>
    /// <exception cref="IOException">it cannot be examined (no such file, no permission to search its directory).</exception>
    public static RegionAccess OfPath(string path) =>
        Of(PathStatus.Read(path, followSymlinks: true) ?? throw new IOException($"{path}: no such file"), path);

    /// <summary>The access of <paramref name="path"/>, whose status was just read.</summary>
    public static unsafe RegionAccess Of(in PathStatus status, string path) =>
        new(status.Kind == UnixFileKind.CharacterDevice, status.OwnerUid, status.GroupGid, status.Mode,
            AclSize(LibC.getxattr(path, AclName, null, 0)));

    /// <summary>The access of an open region file or device.</summary>
    public static unsafe RegionAccess Of(SafeFileHandle handle, string path)
    {
        LibC.statx_t st;
        int rc = LibC.Fstatx((int)handle.DangerousGetHandle(), LibC.STATX_BASIC, &st);
        if (rc != 0) throw new MediaException(path, $"cannot stat: {Marshal.GetPInvokeErrorMessage(-rc)}");
        return From(st) with { HasExtendedAcl = AclSize(LibC.fgetxattr((int)handle.DangerousGetHandle(), AclName, null, 0)) };
    }

    private static RegionAccess From(in LibC.statx_t st) =>
        new((st.stx_mode & LibC.S_IFMT) == LibC.S_IFCHR, st.stx_uid, st.stx_gid, (uint)st.stx_mode & 0xFFF, HasExtendedAcl: false);

    private const string AclName = "system.posix_acl_access";

    /// <summary>
    /// Whether an ACL of this size holds more than the three entries the mode bits already show
    /// (owner, group, other): its header is 4 bytes and each entry 8. -1 (none, or no ACL
    /// support): no.
    /// </summary>
    private static bool AclSize(nint size) => size > 4 + 3 * 8;

    private static string Quote(string path) =>
        path.All(c => char.IsAsciiLetterOrDigit(c) || "/._-+,:@%".Contains(c, StringComparison.Ordinal))
            ? path
            : "'" + path.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
