"""Show again an outfit recommended earlier in this conversation."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tools.base import Tool, ToolContext, ToolError, ToolResult


class RecallOutfitArgs(BaseModel):
    """Arguments of ``recall_outfit``."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(default=-1, description="Which outfit: 1 = the first shown, 2 = the second, -1 = the latest.")


class RecallOutfit(Tool):
    """Show again an outfit recommended earlier in this conversation.

    For "what was the first outfit?": index 1 is the first outfit, -1 the latest.
    """

    name = "recall_outfit"
    examples = (
        'show me the first outfit again',
        'go back to the earlier look',
        'what was the outfit you suggested before?',
    )
    intent = "history"
    Args = RecallOutfitArgs

    def run(self, args: RecallOutfitArgs, ctx: ToolContext) -> ToolResult:
        """Return the items of the chosen earlier outfit."""
        catalog = ctx.require_catalog()
        if not ctx.outfits:
            raise ToolError("I haven't recommended an outfit in this conversation yet. Ask me for one first.")
        n = len(ctx.outfits)
        if args.index == 0 or args.index > n or args.index < -n:
            raise ToolError(f"There {'is' if n == 1 else 'are'} only {n} outfit(s) so far; ask for 1 to {n}.")
        idx = args.index - 1 if args.index > 0 else n + args.index
        items = [catalog.get(i) for i in ctx.outfits[idx] if i in catalog.items]
        ordinal = {0: "first", 1: "second", 2: "third"}.get(idx, f"#{idx + 1}")
        return ToolResult(tool=self.name, items=items, is_outfit=True,
                          message=f"Here is the {ordinal} outfit again.", data={"outfit_index": idx + 1})
