"""A planner on a local transformers model: a chat VLM (Qwen2-VL family, SmolVLM, Idefics3) or a causal LM.

The model is named by ``FASHIONM3_PLANNER_MODEL`` (a folder or a hub id) and loaded on first use:
``AutoModelForImageTextToText`` + ``AutoProcessor`` when its config is an image-text-to-text
architecture (this turn's photos are then given to the model), else ``AutoModelForCausalLM`` +
``AutoTokenizer``. It runs on CUDA in bfloat16 when available, else on the CPU in float32. The tool
schemas reach the model through the chat template's ``tools=`` when the template renders them, else
in the system text; the model is asked for a JSON plan (tool-call markup is understood too),
generation is greedy, and the answer is validated, repaired once, or replaced by the rules
planner's plan (counted in ``stats``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

from agent.plan import Plan, PlannerInput
from agent.planners.llm_common import (
    Answer,
    ChatProposer,
    build_messages,
    plan_from_output,
    system_prompt,
    tool_specs,
)

if TYPE_CHECKING:
    from agent.context import Context

__all__ = ["TransformersPlanner", "pick_device_dtype"]

log = logging.getLogger(__name__)

Kind = Literal["auto", "vlm", "causal"]


def pick_device_dtype(device: str | None = None, dtype: str | None = None) -> tuple[str, Any]:
    """Return ``(device, torch dtype)``: CUDA with bfloat16 (float16 without bf16 support), else CPU float32."""
    import torch

    if not device:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype:
        resolved = getattr(torch, dtype, None)
        if not isinstance(resolved, torch.dtype):
            raise ValueError(f"unknown torch dtype {dtype!r}; use bfloat16, float16 or float32")
        return device, resolved
    if device.startswith("cuda"):
        return device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return device, torch.float32


class TransformersPlanner(ChatProposer):
    """Plan with a local transformers chat model (VLM or causal LM), loaded lazily."""

    name = "transformers"

    def __init__(
        self,
        model: str | None = None,
        *,
        kind: Kind = "auto",
        device: str | None = None,
        dtype: str | None = None,
        max_new_tokens: int | None = None,
        send_images: bool = True,
        repair: bool = True,
        fallback: Any = None,
        settings: Context | None = None,
    ) -> None:
        """Configure the model; unset values come from ``FASHIONM3_PLANNER_*`` settings.

        Args:
            model: A local folder or hub id (``FASHIONM3_PLANNER_MODEL``).
            kind: ``vlm`` (image-text-to-text), ``causal`` (text only), or ``auto`` (by the model's config).
            device: ``cuda``, ``cpu``, ...; empty picks CUDA when available.
            dtype: Torch dtype name; empty means bfloat16 on GPU, float32 on CPU.
            max_new_tokens: Most tokens generated per answer.
            send_images: Give this turn's photos to a VLM.
            repair: Send an invalid answer back once with the validation error.
            fallback: Planner used when the answer stays invalid (the rules planner by default).
            settings: The run's settings to read defaults from (``Context()`` defaults when ``None``).
        """
        super().__init__(repair=repair, fallback=fallback)
        if settings is None:
            from agent.context import Context

            settings = Context()
        self.model_id = model or settings.planner_model
        if not self.model_id:
            raise ValueError("the transformers planner needs a model: set FASHIONM3_PLANNER_MODEL to a local "
                             "folder or a hub id (e.g. Qwen/Qwen2-VL-2B-Instruct)")
        self.kind: Kind = kind
        self.device_name = device
        self.dtype_name = dtype
        self.max_new_tokens = int(max_new_tokens if max_new_tokens is not None else settings.planner_max_tokens)
        self.send_images = send_images
        self.currency = settings.currency
        self.model: Any = None
        self.processor: Any = None
        self.tokenizer: Any = None
        self.device = ""
        self.is_vlm = False
        self.template_takes_tools = False
        self.last_output = ""

    # -- loading -------------------------------------------------------------------------------------

    def setup(self) -> None:
        """Load the model and its processor or tokenizer (once)."""
        if self.model is not None:
            return
        from transformers import AutoConfig

        try:
            config = AutoConfig.from_pretrained(self.model_id)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot load planner model {self.model_id!r}: {exc}. Set FASHIONM3_PLANNER_MODEL "
                             "to a folder with config.json, or a hub id reachable from this machine") from exc
        self.is_vlm = self.kind == "vlm" or (self.kind == "auto" and _is_image_text_to_text(config))
        self.device, dtype = pick_device_dtype(self.device_name, self.dtype_name)
        model: Any
        if self.is_vlm:
            from transformers import AutoModelForImageTextToText, AutoProcessor

            self.processor = AutoProcessor.from_pretrained(self.model_id)
            self.tokenizer = self.processor.tokenizer
            model = AutoModelForImageTextToText.from_pretrained(self.model_id, dtype=dtype)
        else:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(self.model_id)
            model = AutoModelForCausalLM.from_pretrained(self.model_id, dtype=dtype)
        self.model = model.to(self.device).eval()
        template = getattr(self.processor, "chat_template", None) or getattr(self.tokenizer, "chat_template", None)
        if not template:
            raise ValueError(f"planner model {self.model_id!r} has no chat template; use an instruct/chat model")
        self.template_takes_tools = "tools" in str(template)
        log.info("planner model %s loaded (%s, %s, %s)", self.model_id, "VLM" if self.is_vlm else "causal LM",
                 self.device, dtype)

    # -- planning ------------------------------------------------------------------------------------

    def _messages(self, view: PlannerInput) -> list[dict[str, Any]]:
        self.setup()
        system = system_prompt(view, tools_in_text=not self.template_takes_tools, json_only=True,
                               currency=self.currency)
        return build_messages(view, system)

    def _images(self, view: PlannerInput) -> list[Any]:
        """Return this turn's photos as RGB PIL images (unreadable ones skipped with a warning)."""
        if not (self.is_vlm and self.send_images):
            return []
        from PIL import Image

        images = []
        for info in view.new_images:
            try:
                with Image.open(info.path) as im:
                    images.append(im.convert("RGB"))
            except OSError as exc:
                log.warning("not giving photo %s to the planner: %s", info.sha256[:12], exc)
        return images

    def render(self, messages: list[dict[str, Any]], view: PlannerInput, images: list[Any]) -> str:
        """Return the prompt text from the chat template (tools passed when the template takes them)."""
        tools = tool_specs(view) if self.template_takes_tools else None
        if not self.is_vlm:
            return str(self.tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True,
                                                          tokenize=False))
        parts = []
        for i, m in enumerate(messages):
            content: list[dict[str, Any]] = [{"type": "text", "text": m["content"]}]
            if i == len(messages) - 1 and images and m["role"] == "user":
                content = [*({"type": "image"} for _ in images), *content]
            parts.append({"role": m["role"], "content": content})
        return str(self.processor.apply_chat_template(parts, tools=tools, add_generation_prompt=True,
                                                      tokenize=False))

    def generate(self, prompt: str, images: list[Any]) -> str:
        """Generate greedily from a rendered prompt and return only the new text."""
        import torch

        if self.is_vlm:
            inputs = self.processor(text=[prompt], images=images or None, return_tensors="pt")
        else:
            inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        inputs = inputs.to(self.device)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                      pad_token_id=pad)
        new = out[0, inputs["input_ids"].shape[1]:]
        return str(self.tokenizer.decode(new, skip_special_tokens=True))

    def _answer(self, messages: list[dict[str, Any]], view: PlannerInput) -> Answer:
        images = self._images(view)
        prompt = self.render(messages, view, images)
        self.last_output = self.generate(prompt, images)
        return Answer(self.last_output)

    def _to_plan(self, answer: Answer, view: PlannerInput) -> Plan:
        return plan_from_output(answer.text, view, allow_plain_reply=False)


def _is_image_text_to_text(config: Any) -> bool:
    """Whether a model config is an image-text-to-text architecture (a chat VLM)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return getattr(config, "model_type", "") in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES
