using System.Text.Json;
using PmemFs.Media.Access;

namespace PmemFs.Cli.Output;

/// <summary>
/// The "access" part of <c>pmemfs info</c>: who can open the region directly (owner, group,
/// mode) and whether that is private, group-shared or exposed (docs/security.md).
/// </summary>
public static class AccessReport
{
    /// <summary>The access of the region at <paramref name="path"/>, or null when it cannot be examined.</summary>
    public static RegionAccess? TryRead(string path)
    {
        try { return RegionAccess.OfPath(path); }
        catch (IOException) { return null; }
    }

    public static void WriteText(TextWriter output, string path, RegionAccess access)
    {
        output.WriteLine("access:");
        var w = new FieldWriter(output, nameWidth: 28, indent: "  ");
        w.Field("owner", $"{access.OwnerName} (uid {access.OwnerUid})");
        var members = Accounts.GroupMembers(access.GroupGid);
        w.Field("group", $"{access.GroupName} (gid {access.GroupGid}" + (members.Count > 0 ? $"; members: {string.Join(", ", members)})" : ")"));
        w.Field("mode", $"{access.ModeText} ({access.ModeSymbols}){(access.HasExtendedAcl ? " with an ACL naming more users or groups" : "")}");
        w.Field("state", $"{access.ExposureName}: {access.WhoCanOpenText}");
        if (access.Exposure == RegionExposure.Exposed)
            w.Field("fix", $"{RegionAccess.MakePrivateCommand(path)} (or share it with one group: {RegionAccess.ShareWithGroupCommand(path)})");
        else if (access.MountRefusal(path, PathStatus.EffectiveUid) is { } refusal)
            w.Field("mount by you", $"refused: {refusal}");
    }

    public static void WriteJson(Utf8JsonWriter w, RegionAccess access)
    {
        w.WriteStartObject("access");
        w.WriteNumber("ownerUid", access.OwnerUid);
        w.WriteString("owner", access.OwnerName);
        w.WriteNumber("groupGid", access.GroupGid);
        w.WriteString("group", access.GroupName);
        w.WriteStartArray("groupMembers");
        foreach (string member in Accounts.GroupMembers(access.GroupGid)) w.WriteStringValue(member);
        w.WriteEndArray();
        w.WriteString("mode", access.ModeText);
        w.WriteBoolean("extendedAcl", access.HasExtendedAcl);
        w.WriteString("state", access.ExposureName);
        w.WriteString("whoCanOpen", access.WhoCanOpenText);
        w.WriteEndObject();
    }
}
