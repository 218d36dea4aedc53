"""A small line chart painted with QPainter, for the training curves.

QtCharts is a separate, large module that PySide6-Essentials does not ship; a few epochs
of loss and accuracy need only axes, ticks, a legend and polylines. Non-finite values
(a NaN loss) break the line instead of wrecking the scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

Point = tuple[float, float]
Formatter = Callable[[float], str]

TRAIN_COLOR = QColor(31, 119, 180)
VAL_COLOR = QColor(255, 127, 14)


def nice_ticks(low: float, high: float, max_ticks: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) covering ``low``..``high``."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        high = low + 1.0
    raw_step = (high - low) / max(1, max_ticks - 1)
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw_step)
    first = math.ceil(low / step - 1e-9) * step
    count = math.floor((high - first) / step + 1e-9) + 1
    return [round(first + i * step, 12) for i in range(count)]


def _default_format(value: float) -> str:
    return f"{value:g}"


@dataclass
class Series:
    label: str
    color: QColor
    points: list[Point] = field(default_factory=list)


@dataclass(frozen=True)
class _Frame:
    """Maps data coordinates to pixels inside the plot rectangle."""

    rect: QRectF
    x_range: tuple[float, float]
    y_range: tuple[float, float]

    def map(self, x: float, y: float) -> QPointF:
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        px = self.rect.left() + (x - x0) / (x1 - x0) * self.rect.width()
        py = self.rect.bottom() - (y - y0) / (y1 - y0) * self.rect.height()
        return QPointF(px, py)


class LineChart(QWidget):
    """Line series over integer x values (epochs), with a title and a legend.

    Args:
        title: drawn at the top left.
        y_format: turns a y tick value into its label (e.g. percent for accuracies).
        y_range: fixed y limits, or None to fit the data (with some margin).
    """

    MARGIN_LEFT = 52
    MARGIN_RIGHT = 14
    MARGIN_TOP = 28
    MARGIN_BOTTOM = 34

    def __init__(
        self,
        title: str,
        *,
        x_label: str = "epoch",
        y_format: Formatter = _default_format,
        y_range: tuple[float, float] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._title = title
        self._x_label = x_label
        self._y_format = y_format
        self._fixed_y = y_range
        self._x_max = 1.0
        self._series: dict[str, Series] = {}
        self.setMinimumSize(260, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(380, 240)

    # ---------------------------------------------------------------------- data

    def add_series(self, key: str, label: str, color: QColor) -> None:
        self._series[key] = Series(label, color)
        self.update()

    def append(self, key: str, x: float, y: float) -> None:
        self._series[key].points.append((float(x), float(y)))
        self.update()

    def points(self, key: str) -> list[Point]:
        return list(self._series[key].points)

    def set_x_max(self, x_max: float) -> None:
        """The x axis spans 1..x_max (e.g. the planned epochs) so it does not jump each epoch."""
        self._x_max = max(1.0, float(x_max))
        self.update()

    def clear(self) -> None:
        for series in self._series.values():
            series.points.clear()
        self.update()

    def _finite_points(self) -> list[Point]:
        return [
            (x, y)
            for series in self._series.values()
            for x, y in series.points
            if math.isfinite(x) and math.isfinite(y)
        ]

    def _ranges(self) -> tuple[tuple[float, float], tuple[float, float]]:
        points = self._finite_points()
        x_high = max([self._x_max, *(x for x, _ in points)])
        x_range = (1.0, x_high if x_high > 1 else 2.0)
        if self._fixed_y is not None:
            return x_range, self._fixed_y
        ys = [y for _, y in points] or [0.0, 1.0]
        low, high = min(0.0, min(ys)), max(ys)
        ticks = nice_ticks(low, high * 1.05 if high > 0 else 1.0)
        return x_range, (min(low, ticks[0]), max(high, ticks[-1]))

    # ---------------------------------------------------------------------- painting

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        plot = QRectF(self.rect()).adjusted(
            self.MARGIN_LEFT, self.MARGIN_TOP, -self.MARGIN_RIGHT, -self.MARGIN_BOTTOM
        )
        if plot.width() < 20 or plot.height() < 20:
            return
        x_range, y_range = self._ranges()
        frame = _Frame(plot, x_range, y_range)
        text = palette.color(QPalette.ColorRole.Text)
        self._paint_title(painter, text)
        self._paint_y_axis(painter, frame, text)
        self._paint_x_axis(painter, frame, text)
        for series in self._series.values():
            self._paint_series(painter, frame, series)
        self._paint_legend(painter, plot, text)
        painter.end()

    def _paint_title(self, painter: QPainter, text: QColor) -> None:
        font = painter.font()
        font.setBold(True)
        painter.save()
        painter.setFont(font)
        painter.setPen(text)
        painter.drawText(
            QRectF(8, 4, self.width() - 16, 20), Qt.AlignmentFlag.AlignLeft, self._title
        )
        painter.restore()

    def _grid_pen(self, text: QColor) -> QPen:
        grid = QColor(text)
        grid.setAlpha(40)
        return QPen(grid, 1)

    def _paint_y_axis(self, painter: QPainter, frame: _Frame, text: QColor) -> None:
        plot = frame.rect
        for value in nice_ticks(*frame.y_range):
            y = frame.map(frame.x_range[0], value).y()
            painter.setPen(self._grid_pen(text))
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(text)
            label_rect = QRectF(0, y - 8, plot.left() - 6, 16)
            align = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
            painter.drawText(label_rect, align, self._y_format(value))
        painter.setPen(QPen(text, 1))
        painter.drawLine(plot.bottomLeft(), plot.topLeft())

    def _paint_x_axis(self, painter: QPainter, frame: _Frame, text: QColor) -> None:
        plot = frame.rect
        ticks = [t for t in nice_ticks(*frame.x_range, max_ticks=8) if t == int(t)]
        painter.setPen(QPen(text, 1))
        painter.drawLine(plot.bottomLeft(), plot.bottomRight())
        for value in ticks:
            x = frame.map(value, frame.y_range[0]).x()
            painter.drawLine(QPointF(x, plot.bottom()), QPointF(x, plot.bottom() + 4))
            painter.drawText(
                QRectF(x - 20, plot.bottom() + 4, 40, 14),
                Qt.AlignmentFlag.AlignHCenter,
                f"{value:g}",
            )
        painter.drawText(
            QRectF(plot.left(), plot.bottom() + 17, plot.width(), 14),
            Qt.AlignmentFlag.AlignHCenter,
            self._x_label,
        )

    def _paint_series(self, painter: QPainter, frame: _Frame, series: Series) -> None:
        path = QPainterPath()
        pen_down = False
        for x, y in series.points:
            if not (math.isfinite(x) and math.isfinite(y)):
                pen_down = False  # a gap, not a line through garbage
                continue
            point = frame.map(x, y)
            if pen_down:
                path.lineTo(point)
            else:
                path.moveTo(point)
            pen_down = True
            path.addEllipse(point, 2.5, 2.5)
            path.moveTo(point)
        painter.setPen(QPen(series.color, 2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)

    def _paint_legend(self, painter: QPainter, plot: QRectF, text: QColor) -> None:
        metrics = painter.fontMetrics()
        x = plot.right()
        for series in reversed(self._series.values()):
            width = metrics.horizontalAdvance(series.label)
            x -= width
            painter.setPen(text)
            painter.drawText(QRectF(x, 4, width, 20), Qt.AlignmentFlag.AlignLeft, series.label)
            x -= 22
            painter.setPen(QPen(series.color, 3))
            painter.drawLine(QPointF(x, 14), QPointF(x + 16, 14))
            x -= 14
